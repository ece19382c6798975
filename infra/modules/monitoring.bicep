// Logs, telemetry and alerting: a Log Analytics workspace and Application Insights (Entra ID auth only), an
// availability test on /api/health, and the alert rules that mail Bits' operations address (docs/operations.md).
param environmentName string
param location string
param tags object
param identityPrincipalId string

@description('Where alerts are mailed: Bits\' operations address.')
param operationsEmail string

@description('The Function App\'s host name (no scheme): the availability test calls https://<host>/api/health.')
param appHostName string

@description('Whether the app reads the shared mailbox through Graph: only then are the poll and subscription watched.')
param watchMailbox bool = true

// The thresholds below are the app's own /api/health limits (functions/core/settings.py): an alert fires exactly when
// /api/health reports the check degraded. Change both together (tests/unit/test_infra_alerts.py holds them equal).
@description('Minutes a due mail may wait in the outbox (SSU_HEALTH_OUTBOX_MAX_MINUTES).')
@minValue(1)
param outboxMaxMinutes int = 15

@description('Minutes without a successful mailbox poll (SSU_HEALTH_POLL_MAX_MINUTES).')
@minValue(1)
param pollMaxMinutes int = 10

@description('Hours the Graph subscription must still have left (SSU_HEALTH_SUBSCRIPTION_MIN_HOURS).')
@minValue(0)
param subscriptionMinHours int = 12

// The app's OpenTelemetry instruments the alerts read, by their names in customMetrics (the contract with the app's
// telemetry; attributes are in customDimensions under the same ssu.* keys the app records).
var metrics = {
  mailFailed: 'ssu.mail.failed' // counter: a mail given up after its retries (ssu.purpose, ssu.process)
  outboxOldestDue: 'ssu.health.outbox_oldest_due_minutes' // recorded on every /api/health call
  timerRuns: 'ssu.timer.runs' // counter: one per timer run (ssu.timer = function name, ssu.outcome = ok | failed)
  pollAge: 'ssu.health.poll_age_minutes' // recorded on every /api/health call
  subscriptionHoursLeft: 'ssu.health.subscription_hours_left' // recorded on every /api/health call
  escalations: 'ssu.escalations' // counter: an escalation mail queued (ssu.process, ssu.case_kind, ssu.level)
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${environmentName}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 90
    features: { disableLocalAuth: true }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${environmentName}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true // telemetry is accepted only from the app's identity (role below)
  }
}

// Monitoring Metrics Publisher: the app's identity may send telemetry, nothing else (local auth is off).
resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identityPrincipalId, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Every alert below goes to this one group: one address Bits' operations people read, in the common alert schema so
// that a mail filter or a ticket system can parse them alike.
resource operations 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${environmentName}-operations'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'SSU drift'
    enabled: true
    emailReceivers: [
      {
        name: 'operations'
        emailAddress: operationsEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// GET /api/health from four European locations every 5 minutes. The app answers 503 when a check is degraded and
// nothing at all when it is down, so a test expecting 200 catches both; these calls are also what records the
// ssu.health.* figures the log alerts read. Four locations so that one location's network trouble is not an outage.
var healthTestName = 'avail-${environmentName}-health'
var healthTestLocations = [
  'emea-nl-ams-azr' // West Europe
  'emea-gb-db3-azr' // North Europe
  'emea-se-sto-edge' // UK West
  'emea-fr-pra-edge' // France Central
]

resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: healthTestName
  location: location
  // The hidden-link tag is how Application Insights shows the test as its own (Availability blade, alert below).
  tags: union(tags, { 'hidden-link:${insights.id}': 'Resource' })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: healthTestName
    Name: 'GET /api/health'
    Description: 'SSU health: 200 when every check is ok, 503 when one is degraded (docs/operations.md).'
    Enabled: true
    Kind: 'standard'
    Frequency: 300
    Timeout: 30
    RetryEnabled: true
    Locations: [for id in healthTestLocations: { Id: id }]
    Request: {
      RequestUrl: 'https://${appHostName}/api/health'
      HttpVerb: 'GET'
      FollowRedirects: false
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      IgnoreHttpStatusCode: false
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

// Health failing from two of the four locations: the app is down or degraded as seen from outside. Severity 1: every
// process (intake, mail, decisions) depends on it.
resource healthAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${environmentName}-health'
  location: 'global'
  tags: union(tags, { 'hidden-link:${insights.id}': 'Resource', 'hidden-link:${healthTest.id}': 'Resource' })
  properties: {
    description: 'GET /api/health has not answered 200 from two or more test locations: the app is down, or answers 503 because a check is degraded (the response names the check and its figure). What to do: docs/operations.md, "Alerts".'
    severity: 1
    enabled: true
    scopes: [
      healthTest.id
      insights.id
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: healthTest.id
      componentId: insights.id
      failedLocationCount: 2
    }
    actions: [
      {
        actionGroupId: operations.id
      }
    ]
  }
}

// The log alerts. Each query returns rows only when something is wrong (a summarize without `by` always returns one
// row, so "nothing seen" is a row too); the rule fires when there is at least one row in the last 15 minutes.
// `mailbox: true` marks the rules that only mean something when the app reads the mailbox through Graph.
var logAlerts = [
  // A mail given up after all its retries never reaches its recipient unless someone acts.
  {
    name: 'mail-failed'
    displayName: 'SSU failed mails'
    severity: 2
    mailbox: false
    description: 'One or more mails were given up after their retries (metric ssu.mail.failed, by purpose and process): the recipient never got it. What to do: docs/operations.md, "Alerts".'
    query: format('''
customMetrics
| where name == "{0}"
| summarize failed = sum(valueSum) by purpose = tostring(customDimensions["ssu.purpose"]), process = tostring(customDimensions["ssu.process"])
| where failed > 0
''', metrics.mailFailed)
  }
  // A due mail waiting longer than the app's health limit: the dispatcher is stuck or the transport is down.
  {
    name: 'outbox-stuck'
    displayName: 'SSU outbox stuck'
    severity: 2
    mailbox: false
    description: 'The oldest due mail in the outbox has waited longer than the health limit (metric ssu.health.outbox_oldest_due_minutes, recorded by every /api/health call): the dispatcher is stuck or Graph refuses to send. What to do: docs/operations.md, "Alerts".'
    query: format('''
customMetrics
| where name == "{0}"
| summarize oldest = max(coalesce(valueMax, value))
| where oldest > {1}
''', metrics.outboxOldestDue, outboxMaxMinutes)
  }
  // A timer run that failed: deadlines, the poll, the outbox or the subscription keeper did not do its work.
  {
    name: 'timer-failed'
    displayName: 'SSU timer failed'
    severity: 2
    mailbox: false
    description: 'A timer function failed (metric ssu.timer.runs with ssu.outcome failed, by timer): its work (deadlines, mailbox poll, outbox, subscription renewal) was not done this run. What to do: docs/operations.md, "Alerts".'
    query: format('''
customMetrics
| where name == "{0}" and tostring(customDimensions["ssu.outcome"]) == "failed"
| summarize failed = sum(valueSum) by timer = tostring(customDimensions["ssu.timer"])
| where failed > 0
''', metrics.timerRuns)
  }
  // The last successful poll is older than the health limit: mail to the shared mailbox is not being read.
  {
    name: 'poll-late'
    displayName: 'SSU mailbox poll late'
    severity: 2
    mailbox: true
    description: 'The last successful mailbox poll is older than the health limit (metric ssu.health.poll_age_minutes, recorded by every /api/health call): mail to the shared mailbox is not being read. What to do: docs/operations.md, "Alerts".'
    query: format('''
customMetrics
| where name == "{0}"
| summarize age = max(coalesce(valueMax, value))
| where age > {1}
''', metrics.pollAge, pollMaxMinutes)
  }
  // No successful mailbox_poll run at all in the window: the timer is not running (or the app sends no telemetry),
  // which the health figure above cannot show if /api/health itself is not reached.
  {
    name: 'poll-silent'
    displayName: 'SSU mailbox poll silent'
    severity: 2
    mailbox: true
    description: 'No successful mailbox_poll run in 15 minutes (metric ssu.timer.runs, ssu.timer mailbox_poll, ssu.outcome ok): the timer does not run, fails every time, or the app sends no telemetry. What to do: docs/operations.md, "Alerts".'
    query: format('''
customMetrics
| where name == "{0}" and tostring(customDimensions["ssu.timer"]) == "mailbox_poll" and tostring(customDimensions["ssu.outcome"]) == "ok"
| summarize runs = countif(valueSum > 0)
| where runs == 0
''', metrics.timerRuns)
  }
  // The Graph subscription near expiry: at least two renewals failed; when it expires new mail is only seen by polls.
  {
    name: 'subscription-expiring'
    displayName: 'SSU Graph subscription expiring'
    severity: 3
    mailbox: true
    description: 'The Graph change-notification subscription has fewer hours left than the health limit (metric ssu.health.subscription_hours_left, recorded by every /api/health call): renewals have failed. (No subscription at all makes /api/health answer 503: the availability alert.) What to do: docs/operations.md, "Alerts".'
    query: format('''
customMetrics
| where name == "{0}"
| summarize hoursLeft = min(coalesce(valueMin, value))
| where hoursLeft < {1}
''', metrics.subscriptionHoursLeft, subscriptionMinHours)
  }
  // A security breach escalated to level 2 or more: nobody acknowledged it in time, and a breach has legal deadlines.
  {
    name: 'breach-escalated'
    displayName: 'SSU security breach escalated'
    severity: 1
    mailbox: false
    description: 'A security breach case was escalated to level 2 or higher (metric ssu.escalations, ssu.case_kind security_breach): it was not acknowledged in time and its reporting deadline runs. What to do: docs/operations.md, "Alerts".'
    query: format('''
customMetrics
| where name == "{0}" and tostring(customDimensions["ssu.case_kind"]) == "security_breach" and toint(customDimensions["ssu.level"]) >= 2
| summarize escalations = sum(valueSum) by level = toint(customDimensions["ssu.level"])
| where escalations > 0
''', metrics.escalations)
  }
]

resource logAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [
  for rule in logAlerts: if (watchMailbox || !rule.mailbox) {
    name: 'alert-${environmentName}-${rule.name}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: rule.displayName
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        insights.id
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: [
          operations.id
        ]
      }
    }
  }
]

output connectionString string = insights.properties.ConnectionString
