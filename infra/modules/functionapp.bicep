// The Function App on the Flex Consumption plan (Python 3.11), running as the user-assigned identity.
param name string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
param tableEndpoint string
param blobEndpoint string
param appInsightsConnectionString string
param keyVaultUri string
param sharedMailbox string
param mailbox string
param committeeMembers array

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption exists only in some regions; set zoneRedundant: true in properties where the chosen region offers it.
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

var publicBaseUrl = 'https://${name}.azurewebsites.net'
var secret = 'SecretUri=${keyVaultUri}secrets'

// Every app setting the code reads in Azure (README, "Settings"); the rest keep their defaults. Local-only settings
// (the storage connection string, the local mail folder, Graph client secrets) are deliberately not set.
var appSettings = {
  // The Functions host's own storage, reached with the managed identity (no keys).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  SSU_MODE: 'azure'
  SSU_TABLE_ENDPOINT: tableEndpoint
  SSU_BLOB_ENDPOINT: blobEndpoint
  SSU_MANAGED_IDENTITY_CLIENT_ID: identityClientId
  SSU_PUBLIC_BASE_URL: publicBaseUrl
  SSU_SIGNING_KEY: '@Microsoft.KeyVault(${secret}/ssu-signing-key)'
  SSU_GRAPH_NOTIFICATION_CLIENT_STATE: '@Microsoft.KeyVault(${secret}/ssu-graph-client-state)'
  // SHA-256 hashes of NAV's, Altinn's and Digdir's alert API keys, as JSON (docs/deploy.md, "Alert API keys").
  SSU_ALERT_KEYS: '@Microsoft.KeyVault(${secret}/ssu-alert-keys)'
  SSU_SHARED_MAILBOX: sharedMailbox
  SSU_MAIL_TRANSPORT: 'graph'
  SSU_GRAPH_AUTH: 'managed_identity'
  SSU_MAILBOX: mailbox
  SSU_COMMITTEE_MEMBERS: string(committeeMembers)
  // Timer schedules: the host resolves %SSU_…% from app settings, so these must exist.
  SSU_OUTBOX_SCHEDULE: '0 */1 * * * *'
  SSU_MAILBOX_SCHEDULE: '0 */1 * * * *'
  SSU_SUBSCRIPTION_SCHEDULE: '0 0 */6 * * *'
  SSU_DEADLINES_SCHEDULE: '0 */5 * * * *'
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  // checkov:skip=CKV_AZURE_17: client certificates are not used by NAV, Altinn or Digdir for this API; callers authenticate with function keys.
  // checkov:skip=CKV_AZURE_222: public network access is how insurers reach the forms and Graph reaches the notification endpoint.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales out per request from zero; always-ready instances would cost around the clock for a few thousand requests a month.
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not use App Service health check to replace instances; GET /api/health is there for an availability test (docs/deploy.md).
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): { name: setting.key, value: setting.value }]
    }
  }
}

output name string = app.name
output url string = publicBaseUrl
