#!/usr/bin/env bash
# Staff sign-in with Entra ID: the app registration Bits' people sign in with, its app roles, and its trust in the
# sign-in managed identity (no client secret). azd runs it: `register` before provisioning (the client id goes to
# infra as STAFF_SIGNIN_CLIENT_ID), `connect` after (the redirect URI and the federated credential need the app's
# address and the identity, which provisioning creates). Safe to run again: it finds what exists and updates it.
# Needs an Entra role that may create app registrations (Application Developer, or Cloud Application Administrator
# for the "assignment required" switch). docs/deploy.md, "Staff sign-in", says what it does step by step.
set -euo pipefail
step="${1:?usage: staff-sign-in.sh register|connect}"
env_name="${AZURE_ENV_NAME:?run through azd, or set AZURE_ENV_NAME}"
display_name="SSU governance staff ($env_name)"

# The three app roles the app checks (functions/web/staff.py). Fixed ids: updating a role keeps its assignments.
app_roles='[
  {"id": "8c74eb1d-e465-5463-8949-dfafdb58c401", "value": "support", "displayName": "Support",
   "description": "Reads cases, the overview, the registry and mail suppressions; acts on cases.",
   "allowedMemberTypes": ["User"], "isEnabled": true},
  {"id": "450088f9-2872-51c1-abb1-cc158c032789", "value": "approver", "displayName": "Approver",
   "description": "What support may, and approvals.", "allowedMemberTypes": ["User"], "isEnabled": true},
  {"id": "00d6a628-16c1-56a7-b2df-e439044f6d20", "value": "admin", "displayName": "Administrator",
   "description": "Everything, including publishing terms and lifting mail suppressions.",
   "allowedMemberTypes": ["User"], "isEnabled": true}
]'

existing_app() {
  if [ -n "${STAFF_SIGNIN_CLIENT_ID:-}" ]; then
    echo "$STAFF_SIGNIN_CLIENT_ID"
  else
    az ad app list --display-name "$display_name" --query "[0].appId" -o tsv
  fi
}

case "$step" in
  register)
    roles_file="$(mktemp)"
    trap 'rm -f "$roles_file"' EXIT
    printf '%s\n' "$app_roles" >"$roles_file"
    app_id="$(existing_app)"
    if [ -z "$app_id" ]; then
      # Single tenant; ID tokens on, as App Service Authentication signs people in with OpenID Connect.
      app_id="$(az ad app create --display-name "$display_name" --sign-in-audience AzureADMyOrg \
        --enable-id-token-issuance true --app-roles "@$roles_file" --query appId -o tsv)"
      echo "created app registration '$display_name' ($app_id)"
    else
      az ad app update --id "$app_id" --enable-id-token-issuance true --app-roles "@$roles_file" --output none
      echo "updated app registration '$display_name' ($app_id)"
    fi
    # The enterprise application (service principal): only people assigned an app role may sign in at all.
    az ad sp show --id "$app_id" --query id -o tsv >/dev/null 2>&1 || az ad sp create --id "$app_id" --output none
    az ad sp update --id "$app_id" --set appRoleAssignmentRequired=true --output none
    azd env set STAFF_SIGNIN_CLIENT_ID "$app_id"
    ;;
  connect)
    app_id="$(existing_app)"
    if [ -z "$app_id" ]; then
      echo "no staff sign-in app registration: run infra/scripts/staff-sign-in.sh register (docs/deploy.md)" >&2
      exit 0
    fi
    url="${AZURE_FUNCTION_APP_URL:?run after provisioning (azd sets AZURE_FUNCTION_APP_URL)}"
    identity="${AZURE_SIGNIN_IDENTITY_PRINCIPAL_ID:?run after provisioning (azd sets AZURE_SIGNIN_IDENTITY_PRINCIPAL_ID)}"
    tenant="${STAFF_SIGNIN_TENANT_ID:-$(az account show --query tenantId -o tsv)}"
    az ad app update --id "$app_id" --web-redirect-uris "$url/.auth/login/aad/callback" --output none
    echo "redirect URI: $url/.auth/login/aad/callback"
    # App Service Authentication proves it is this app with a token of the sign-in identity instead of a secret.
    if [ -z "$(az ad app federated-credential list --id "$app_id" --query "[?name=='app-service-sign-in'].name" -o tsv)" ]; then
      az ad app federated-credential create --id "$app_id" --output none --parameters "{
        \"name\": \"app-service-sign-in\",
        \"issuer\": \"https://login.microsoftonline.com/$tenant/v2.0\",
        \"subject\": \"$identity\",
        \"audiences\": [\"api://AzureADTokenExchange\"],
        \"description\": \"App Service Authentication of $url signs staff in as this app\"
      }"
      echo "created the federated credential for the sign-in identity"
    fi
    ;;
  *)
    echo "usage: staff-sign-in.sh register|connect" >&2
    exit 2
    ;;
esac
