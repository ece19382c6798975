// The SSU governance app in Azure: one resource group with the Function App (Flex Consumption, Python 3.11), its
// storage, monitoring and Key Vault, all reached with one user-assigned managed identity. `azd up` deploys it.
targetScope = 'subscription'

@minLength(1)
@maxLength(20)
@description('Name of the azd environment, e.g. ssu-test or ssu-prod: every resource name derives from it.')
param environmentName string

@minLength(1)
@description('Azure region for every resource (one that offers Flex Consumption, e.g. norwayeast or swedencentral).')
param location string

@description('The shared mailbox the app sends from and reads (Exchange Online).')
param sharedMailbox string = 'ssu@bits.example'

@description('Object id of the person or group who may manage the Key Vault secrets (set by azd as the signed-in user).')
param secretsOfficerPrincipalId string = ''

@description('Email addresses of the expert committee (fagutvalg) that recommends on change requests.')
param committeeMembers array = []

@description('Read the shared mailbox through Graph (graph) or not at all yet (local: nothing is read).')
@allowed(['graph', 'local'])
param mailbox string = 'graph'

@description('Application (client) id of the Entra ID app registration Bits staff sign in with; infra/scripts/staff-sign-in.sh creates it before provisioning. Empty: sign-in is not configured and every staff page refuses everyone.')
param staffSignInClientId string = ''

@description('Tenant (directory) id of that app registration: the subscription\'s tenant unless told.')
param staffSignInTenantId string = subscription().tenantId

@description('Bits\' operations address: every alert (availability, failed mails, stuck outbox, timers, mailbox, breaches) is mailed here (docs/operations.md). No default: azd asks for it.')
@minLength(3)
param operationsEmail string

@description('Instances kept warm for the queue-triggered outbox dispatcher (0: none; see README, "Outbox").')
@minValue(0)
param outboxWakeAlwaysReady int = 0

var tags = {
  'azd-env-name': environmentName
  application: 'ssu-governance'
  owner: 'Bits AS'
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
// Storage and Key Vault names allow letters and digits (and Key Vault single hyphens): keep only those.
var compact = toLower(replace(replace(replace(environmentName, '-', ''), '_', ''), '.', ''))
var appName = 'func-${take(compact, 18)}-${take(token, 6)}'
// The app's host name, as functionapp.bicep makes its public URL. Derived here, not taken from the app module's
// output: the app needs monitoring's connection string first, so monitoring cannot wait for the app.
var appHostName = '${appName}.azurewebsites.net'

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: group
  params: {
    name: 'id-${environmentName}'
    location: location
    tags: tags
  }
}

// A second identity, only for staff sign-in: App Service Authentication presents it to Entra ID instead of a client
// secret (a federated identity credential on the app registration). Kept apart so that nothing else can act as the
// app registration.
module signInIdentity 'modules/identity.bicep' = {
  name: 'signin-identity'
  scope: group
  params: {
    name: 'id-${environmentName}-signin'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: group
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    operationsEmail: operationsEmail
    appHostName: appHostName
    watchMailbox: mailbox == 'graph'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: group
  params: {
    name: 'st${take(compact, 11)}${take(token, 11)}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    // Named after the app's default table prefix (ssu), as SSU_OUTBOX_QUEUE's default is.
    outboxQueue: 'ssu-outbox-wake'
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: group
  params: {
    name: 'kv-${take(compact, 10)}-${take(token, 8)}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    secretsOfficerPrincipalId: secretsOfficerPrincipalId
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: group
  params: {
    name: appName
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    tableEndpoint: storage.outputs.tableEndpoint
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    outboxQueue: storage.outputs.outboxQueue
    outboxWakeAlwaysReady: outboxWakeAlwaysReady
    appInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUri: vault.outputs.uri
    sharedMailbox: sharedMailbox
    mailbox: mailbox
    committeeMembers: committeeMembers
    signInIdentityId: signInIdentity.outputs.id
    signInIdentityClientId: signInIdentity.outputs.clientId
    staffSignInClientId: staffSignInClientId
    staffSignInTenantId: staffSignInTenantId
  }
}

output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output AZURE_FUNCTION_APP_URL string = app.outputs.url
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output SHARED_MAILBOX string = sharedMailbox
output AZURE_SIGNIN_IDENTITY_PRINCIPAL_ID string = signInIdentity.outputs.principalId
output STAFF_SIGNIN_TENANT_ID string = staffSignInTenantId
