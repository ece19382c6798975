#!/usr/bin/env bash
# Creates the app's secrets in Key Vault when they do not exist yet (azd runs this after provisioning).
# Rotating: docs/operations.md ("Rotating the signing key": the current key moves to ssu-signing-key-previous first,
# so that links already sent keep working; a new client state needs the Graph subscription renewed).
set -euo pipefail
vault="${AZURE_KEY_VAULT_NAME:?run through azd, or set AZURE_KEY_VAULT_NAME}"
created=0
if ! az keyvault secret show --vault-name "$vault" --name ssu-alert-keys --query id -o tsv >/dev/null 2>&1; then
  az keyvault secret set --vault-name "$vault" --name ssu-alert-keys --value '{}' --output none  # no source yet
  echo "created secret ssu-alert-keys (empty: add the sources' key hashes, see docs/deploy.md)"
  created=1
fi
# ssu-signing-key-previous starts as a random key that never signed anything: the app setting always resolves.
for name in ssu-signing-key ssu-signing-key-previous ssu-graph-client-state; do
  if ! az keyvault secret show --vault-name "$vault" --name "$name" --query id -o tsv >/dev/null 2>&1; then
    az keyvault secret set --vault-name "$vault" --name "$name" --value "$(openssl rand -base64 48 | tr -d '\n')" --output none
    echo "created secret $name"
    created=1
  fi
done
# The app's Key Vault references were resolved before the secrets existed: a restart resolves them again now.
if [ "$created" = 1 ] && [ -n "${AZURE_FUNCTION_APP_NAME:-}" ] && [ -n "${AZURE_RESOURCE_GROUP:-}" ]; then
  az functionapp restart --name "$AZURE_FUNCTION_APP_NAME" --resource-group "$AZURE_RESOURCE_GROUP" --output none
fi
