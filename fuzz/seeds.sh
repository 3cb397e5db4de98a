#!/usr/bin/env bash
# Builds the seed corpora fuzz/corpus/<target>/ (git-ignored) from the shared reference
# material (../shared: XAdES fixtures, invoice templates, UPO examples; never copied into the
# repository), keys and certificates made here with openssl, and small archives and replies.
# Usage: bash fuzz/seeds.sh [SHARED_DIR]
set -euo pipefail
cd "$(dirname "$0")"
shared=${1:-${KSEF_SHARED_DIR:-../../shared}}
c=corpus
rm -rf "$c"
mkdir -p "$c"/{xades_verify,c14n,upo_parse,ids,package_extract,response_decode,keys_certs}

# XAdES: signatures made by other signers (xmlsec1, signxml).
cp "$shared"/fixtures/xades/*.xml "$c"/xades_verify/
# C14N: the same documents and the invoice templates, each under all six algorithms.
i=0
for f in "$shared"/fixtures/xades/*.xml "$shared"/fixtures/invoices/*.xml; do
  for sel in 0 1 2 3 4 5; do
    { printf "\\x0$sel"; cat "$f"; } > "$c/c14n/seed-$i-$sel"
  done
  i=$((i + 1))
done
# UPO: the official examples.
find "$shared"/ksef-spec/upo-examples -name '*.xml' -print0 | while IFS= read -r -d '' f; do
  cp "$f" "$c/upo_parse/$(echo "$f" | md5sum | cut -c1-12).xml"
done
# Identifiers: one valid value of each kind, and near misses.
printf '%s\n' 5265877635 5265877636 44051401359 44051401358 5265877635-00001 DE123456789 \
  5265877635-DE123456789 PDE012345 5265877635-20250826-0100001AF629-AF \
  20250826-EE-2D1EA3A000-E1E25A0F25-B9 20251010-KC-7E45E3A1FF-0D0AC1C1C4-2F | \
  while read -r v; do printf '%s' "$v" > "$c/ids/$(echo "$v" | md5sum | cut -c1-12)"; done
# Archives: a ZIP (selector byte 0) and a tar.gz (selector byte 1) holding an invoice and
# _metadata.json.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$shared"/fixtures/invoices/invoice-template-fa-3.xml "$tmp/5265877635-20250826-0100001AF629-AF.xml"
echo '{"invoices":[]}' > "$tmp/_metadata.json"
(cd "$tmp" && python3 -c '
import zipfile, tarfile, sys
with zipfile.ZipFile("p.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.write("5265877635-20250826-0100001AF629-AF.xml"); z.write("_metadata.json")
with tarfile.open("p.tgz", "w:gz") as t:
    t.add("5265877635-20250826-0100001AF629-AF.xml"); t.add("_metadata.json")
')
{ printf '\x00'; cat "$tmp/p.zip"; } > "$c/package_extract/zip"
{ printf '\x01'; cat "$tmp/p.tgz"; } > "$c/package_extract/tgz"
# Replies: status (LE u16, mod 500, +100), flags, header length, headers, body.
reply() { # name status flags headers body
  local st=$(($2 - 100))
  printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((st & 255)) $((st >> 8)) "$3" "${#4}")%s%s" "$4" "$5" > "$c/response_decode/$1"
}
reply challenge 200 0 '' '{"challenge":"20250514-CR-226FB7B000-3ACF9BE4C0-10","timestamp":"2025-07-11T12:23:56.0154302+00:00","timestampMs":1752236636015}'
reply exception 400 0 '' '{"exception":{"exceptionDetailList":[{"exceptionCode":21405,"exceptionDescription":"Błąd walidacji danych wejściowych.","details":["x"]}],"referenceNumber":"20251010-EE-0000000000-0000000000-00","serviceCode":"00-abc-def-01","serviceCtx":"srvABC","serviceName":"Undefined","timestamp":"2025-10-10T10:10:10.000Z"}}'
reply problem 400 4 '' '{"type":"https://ksef.mf.gov.pl/errors/21405","title":"Bad Request","status":400,"detail":"x","instance":"/v2/x","errors":[{"code":21405,"description":"y"}]}'
reply ratelimit 429 3 $'{"code":"1","message":"maintenance"}\n30' '{"status":{"code":429,"description":"Too Many Requests","details":["Limit exceeded"]}}'
reply session 200 0 '' '{"status":{"code":200,"description":"Sesja przetworzona"},"dateCreated":"2025-10-10T10:10:10Z","dateUpdated":"2025-10-10T10:10:10Z","invoiceCount":1,"successfulInvoiceCount":1,"failedInvoiceCount":0}'
reply xml 200 8 '' '<?xml version="1.0"?><Faktura/>'
# Keys and certificates, made here.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=fuzz/serialNumber=TINPL-5265877635' \
  -days 30 -keyout "$tmp/ec.pem" -out "$tmp/ec.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -subj '/CN=fuzz' -days 30 -keyout "$tmp/rsa.pem" -out "$tmp/rsa.crt" 2>/dev/null
cp "$tmp"/ec.pem "$tmp"/ec.crt "$tmp"/rsa.pem "$tmp"/rsa.crt "$c/keys_certs/"
openssl x509 -in "$tmp/ec.crt" -outform DER -out "$c/keys_certs/ec.crt.der"
openssl pkey -in "$tmp/ec.pem" -outform DER -out "$c/keys_certs/ec.key.der"
openssl pkcs8 -topk8 -in "$tmp/ec.pem" -passout pass:fuzz -outform DER -out "$c/keys_certs/ec.p8.der" 2>/dev/null
openssl pkcs8 -topk8 -in "$tmp/rsa.pem" -passout pass:fuzz -out "$c/keys_certs/rsa.p8.pem" 2>/dev/null
openssl pkcs12 -export -inkey "$tmp/ec.pem" -in "$tmp/ec.crt" -passout pass:fuzz -out "$c/keys_certs/ec.p12" 2>/dev/null
for t in "$c"/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
