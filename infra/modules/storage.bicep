// Storage for the app's tables and attachment blobs, the outbox's wake-up queue, and the Functions host itself
// (deployment package, timer leases). Shared keys are disabled: everything is reached with the managed identity.
param name string
param location string
param tags object
param identityPrincipalId string
@description('The queue whose messages wake the outbox dispatcher (app setting SSU_OUTBOX_QUEUE).')
param outboxQueue string

var deploymentContainer = 'app-package'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  // checkov:skip=CKV_AZURE_206: ZRS keeps three copies across zones in the region; geo-replication is a cost Bits can add later.
  tags: tags
  kind: 'StorageV2'
  // checkov:skip=CKV_AZURE_59: the Function App on Flex Consumption without VNet integration reaches storage over its public endpoint; access needs Entra ID (shared keys are off).
  // checkov:skip=CKV_AZURE_35: as above: a default-deny firewall would need VNet integration and private endpoints, which this deployment does not have.
  sku: { name: 'Standard_ZRS' } // zone-redundant: a zone outage loses no case
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 14 }
    containerDeleteRetentionPolicy: { enabled: true, days: 14 }
  }
}

resource package 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainer
  properties: { publicAccess: 'None' }
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// The app puts a message here after a request queued mail; the queue trigger `outbox_wake` sends it at once. The
// host moves a message that failed 5 times to `<name>-poison` (it creates that queue itself).
resource wakeQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queues
  name: outboxQueue
}

var roles = {
  // Storage Blob Data Owner: the Functions host needs it for the deployment package and its timer leases, and the
  // app writes attachments (it creates its own container, which Contributor does not allow on containers' ACLs).
  blobOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Storage Table Data Contributor: cases, events, the outbox, the registry and the app's small state tables.
  tableContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Storage Queue Data Contributor: the app puts the outbox's wake-ups on its queue, the host's queue trigger reads
  // and deletes them (and moves poison messages); the host also keeps its timer and scale bookkeeping in queues.
  queueContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(roles): {
  name: guid(account.id, identityPrincipalId, role.value)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

output name string = account.name
output tableEndpoint string = account.properties.primaryEndpoints.table
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output outboxQueue string = wakeQueue.name
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainer}'
