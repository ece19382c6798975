#!/bin/sh
# After each deploy (azd's postdeploy hook): the deployed app must refuse staff routes to anyone not signed in, and
# must not believe an X-MS-CLIENT-PRINCIPAL header a client writes itself. Fails the deployment (exit 1) when
# `/api/cases` answers anything but 401 or 302 without a session, or to a forged admin principal: then the staff
# pages are open, and the app must be fixed or stopped before anyone relies on it (docs/deploy.md, "Staff sign-in").
# Only curl and base64 are needed; it runs in POSIX sh. Retries while the app is still starting (no answer or 5xx).
set -eu
url="${AZURE_FUNCTION_APP_URL:?run through azd after provisioning, or set AZURE_FUNCTION_APP_URL}"
url="${url%/}"
attempts="${CHECK_ATTEMPTS:-12}"
wait_seconds="${CHECK_WAIT_SECONDS:-10}"

# What App Service Authentication would pass on for a signed-in admin, written by the client instead.
principal='{"auth_typ":"aad","claims":[{"typ":"preferred_username","val":"forged-admin@bits.example"},{"typ":"name","val":"Forged admin"},{"typ":"oid","val":"00000000-0000-0000-0000-0000000000aa"},{"typ":"roles","val":"admin"}],"name_typ":"name","role_typ":"roles"}'
forged="$(printf '%s' "$principal" | base64 | tr -d '\n')"

# The status of GET /api/cases with the given extra header (empty: none), once the app answers at all.
status_of() {
  n=1
  while :; do
    if [ -n "$1" ]; then
      code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H 'Accept: application/json' -H "$1" \
        -H 'X-MS-CLIENT-PRINCIPAL-NAME: forged-admin@bits.example' -H 'X-MS-CLIENT-PRINCIPAL-IDP: aad' \
        "$url/api/cases" || true)"
    else
      code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H 'Accept: application/json' \
        "$url/api/cases" || true)"
    fi
    case "$code" in
      000 | 5??) ;;  # not answering yet (a cold start after deploy): ask again
      *) echo "$code"; return 0 ;;
    esac
    if [ "$n" -ge "$attempts" ]; then
      echo "$code"
      return 0
    fi
    n=$((n + 1))
    sleep "$wait_seconds"
  done
}

failed=0
check() {
  what="$1"
  code="$2"
  case "$code" in
    401 | 302) echo "staff sign-in check: $what: $code (refused, as it must be)" ;;
    *)
      echo "staff sign-in check FAILED: $what: GET $url/api/cases answered $code, not 401 or 302." >&2
      failed=1
      ;;
  esac
}

check "without signing in" "$(status_of '')"
check "with a forged admin X-MS-CLIENT-PRINCIPAL" "$(status_of "X-MS-CLIENT-PRINCIPAL: $forged")"
if [ "$failed" -ne 0 ]; then
  echo "The staff pages are not protected: stop the app (az functionapp stop) until this is fixed (docs/deploy.md)." >&2
  exit 1
fi
