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
param queueEndpoint string
@description('The queue whose messages wake the outbox dispatcher (created by the storage module).')
param outboxQueue string
@description('Instances kept warm for the queue-triggered dispatcher (outbox_wake). Flex Consumption scales it apart from the HTTP functions; with 0 a wake-up that finds it at zero waits for a cold start.')
param outboxWakeAlwaysReady int = 0
param appInsightsConnectionString string
param keyVaultUri string
param sharedMailbox string
param mailbox string
param committeeMembers array
@description('The identity App Service Authentication presents to Entra ID in place of a client secret.')
param signInIdentityId string
param signInIdentityClientId string
@description('Client id of the staff sign-in app registration; empty: no sign-in configured (staff pages refuse all).')
param staffSignInClientId string
param staffSignInTenantId string

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
  // host.json's telemetryMode is OpenTelemetry: the Python worker hands each invocation's trace context to the app's
  // spans and streams its logs itself (no duplicates through the host). The app configures Azure Monitor's distro
  // itself (its processors, the managed identity), so PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY stays unset: it
  // would make the worker configure the distro a second time.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  SSU_MODE: 'azure'
  SSU_TABLE_ENDPOINT: tableEndpoint
  SSU_BLOB_ENDPOINT: blobEndpoint
  SSU_QUEUE_ENDPOINT: queueEndpoint
  SSU_MANAGED_IDENTITY_CLIENT_ID: identityClientId
  SSU_PUBLIC_BASE_URL: publicBaseUrl
  SSU_SIGNING_KEY: '@Microsoft.KeyVault(${secret}/ssu-signing-key)'
  // The key before the current one (docs/operations.md, "Rotating the signing key"): links it signed still verify.
  // infra/scripts/set-secrets.sh creates it with a random value that never signed anything, so the reference always
  // resolves (an unresolved reference would leave its own, public, text as the key).
  SSU_SIGNING_KEY_PREVIOUS: '@Microsoft.KeyVault(${secret}/ssu-signing-key-previous)'
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
  SSU_RETENTION_SCHEDULE: '0 30 2 * * *'
  // The queue trigger's queue: the host resolves %SSU_OUTBOX_QUEUE% from app settings too. Its connection is the
  // host's own AzureWebJobsStorage (above): the same account as SSU_QUEUE_ENDPOINT.
  SSU_OUTBOX_QUEUE: outboxQueue
}

// App Service Authentication's own setting (not the code's): the client id of the managed identity whose federated
// credential stands in for a client secret, so that no secret exists to leak or expire.
var signInSettings = empty(staffSignInClientId) ? {} : { OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID: signInIdentityClientId }

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {}, '${signInIdentityId}': {} }
  }
  // checkov:skip=CKV_AZURE_17: client certificates are not used by NAV, Altinn or Digdir for this API; each source authenticates with its own API key, Bits' staff sign in with Entra ID (authsettingsV2 below).
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
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
        alwaysReady: outboxWakeAlwaysReady > 0 ? [ { name: 'function:outbox_wake', instanceCount: outboxWakeAlwaysReady } ] : []
      }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(union(appSettings, signInSettings)): { name: setting.key, value: setting.value }]
    }
  }
}

// Staff sign in with Entra ID through App Service Authentication. Requests without a session are let through
// (public forms, Graph's notifications and the alert API must keep working); the platform strips any
// X-MS-CLIENT-PRINCIPAL a client sends and adds the signed-in person's, and the app checks it and the app role on
// every staff route (functions/web/staff.py).
resource staffSignIn 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(staffSignInClientId)) {
  // checkov:skip=CKV_AZURE_13: checkov reads the V1 schema (properties.enabled); this is authsettingsV2, switched on by properties.platform.enabled, which CKV_AZURE_56 checks and passes.
  // checkov:skip=CKV_AZURE_63: HTTP logging is a property of the site's web config, which authsettingsV2 is not; the app logs to Application Insights.
  // checkov:skip=CKV_AZURE_65: detailed error messages: a web-config property, as above.
  // checkov:skip=CKV_AZURE_66: failed request tracing: a web-config property, as above.
  // checkov:skip=CKV_AZURE_80: .NET Framework version: a web-config property, as above (and the app is Python).
  // checkov:skip=CKV_AZURE_88: Azure Files: a web-config property, as above (Flex Consumption deploys from a blob container).
  // checkov:skip=CKV_AZURE_222: public network access belongs to the site (skipped there, with the reason), not to authsettingsV2.
  // checkov:skip=CKV_AZURE_70: checkov 3.3 fails on a conditional config resource (KeyError: properties); what it checks, httpSettings.requireHttps, is true below.
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true, runtimeVersion: '~1' }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
      routes: { apiPrefix: '/.auth' }
      forwardProxy: { convention: 'NoProxy' }
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: staffSignInClientId
          clientSecretSettingName: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'
          openIdIssuer: '${environment().authentication.loginEndpoint}${staffSignInTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [ staffSignInClientId, 'api://${staffSignInClientId}' ]
          // Tokens only from this app registration itself (the portal's "Allow requests only from this application
          // itself"): a token another app of the tenant obtained for this audience does not sign anyone in.
          defaultAuthorizationPolicy: {
            allowedApplications: [ staffSignInClientId ]
          }
        }
      }
    }
    login: {
      tokenStore: { enabled: true }
      // Only paths on this site after sign-in and sign-out: no open redirect through /.auth/login.
      allowedExternalRedirectUrls: []
      preserveUrlFragmentsForLogins: false
      // A person whose app role is removed keeps a session at most this long (docs/deploy.md, "Staff sign-in").
      cookieExpiration: { convention: 'FixedTime', timeToExpiration: '08:00:00' }
      nonce: { validateNonce: true, nonceExpirationInterval: '00:05:00' }
    }
  }
}

output name string = app.name
output url string = publicBaseUrl
