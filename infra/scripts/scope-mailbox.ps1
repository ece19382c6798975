# Gives the app's managed identity Mail.ReadWrite and Mail.Send on the ONE shared mailbox, and nothing else, with
# Exchange Online RBAC for Applications. Run in Exchange Online PowerShell (Connect-ExchangeOnline) as an Exchange
# administrator, after `azd up`:
#
#   ./scope-mailbox.ps1 -ClientId <AZURE_MANAGED_IDENTITY_CLIENT_ID> -ObjectId <enterprise app object id> -Mailbox ssu@bits.example
#
# Do NOT also grant the Microsoft Graph application permissions Mail.ReadWrite / Mail.Send in Entra ID: those
# would apply to every mailbox in the tenant, and Exchange adds them to (never narrows them by) these scoped roles.
# -ObjectId is the object id of the identity's enterprise application (service principal), shown in Entra ID under
# Enterprise applications (filter: Managed identities).
param(
  [Parameter(Mandatory)] [string] $ClientId,
  [Parameter(Mandatory)] [string] $ObjectId,
  [Parameter(Mandatory)] [string] $Mailbox,
  [string] $Name = "SSU governance app"
)
$ErrorActionPreference = "Stop"

if (-not (Get-ServicePrincipal -Identity $ClientId -ErrorAction SilentlyContinue)) {
  New-ServicePrincipal -AppId $ClientId -ObjectId $ObjectId -DisplayName $Name | Out-Null
}
$scope = "SSU shared mailbox only"
if (-not (Get-ManagementScope -Identity $scope -ErrorAction SilentlyContinue)) {
  $address = (Get-Mailbox -Identity $Mailbox).PrimarySmtpAddress
  New-ManagementScope -Name $scope -RecipientRestrictionFilter "PrimarySmtpAddress -eq '$address'" | Out-Null
}
foreach ($role in "Application Mail.ReadWrite", "Application Mail.Send") {
  $assignment = "$Name - $role"
  if (-not (Get-ManagementRoleAssignment -Identity $assignment -ErrorAction SilentlyContinue)) {
    New-ManagementRoleAssignment -Name $assignment -App $ClientId -Role $role -CustomResourceScope $scope | Out-Null
  }
}

# Verify: the shared mailbox is in scope (InScope = True) and any other mailbox is not (InScope = False).
#   Test-ServicePrincipalAuthorization -Identity $ClientId -Resource $Mailbox
#   Test-ServicePrincipalAuthorization -Identity $ClientId -Resource someone.else@bits.example
Test-ServicePrincipalAuthorization -Identity $ClientId -Resource $Mailbox | Format-Table RoleName, InScope
