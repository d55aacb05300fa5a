#!/usr/bin/env bash
# Certificates for deploy/docker-compose.yml: a CA, one key store per Kafka broker and one for the
# schema registry (PKCS12, for the JVM), all written to DIR (default deploy/tls/certs, git-ignored).
#
#   PARTD_TLS_KEYSTORE_PASSWORD=... bash deploy/tls/make-certs.sh [DIR]
#
# For a trial cluster only: in production the certificates come from your PKI (docs/security.md).
# The CA's key (DIR/ca-key.pem) never goes into a container; keep it or delete it.
# Needs openssl; keytool (any JDK) is used, when present, to check that Java can read the stores.
set -euo pipefail
DIR="${1:-$(dirname "$0")/certs}"
: "${PARTD_TLS_KEYSTORE_PASSWORD:?set PARTD_TLS_KEYSTORE_PASSWORD to the password of the key stores (compose passes it to the brokers)}"
DAYS="${PARTD_TLS_DAYS:-825}"
mkdir -p "$DIR"
cd "$DIR"

# Compose bind-mounts secrets with the files' own modes, and the containers do not run as the
# files' owner: certificates and the password-protected key stores are world-readable (mode 644),
# the CA's key is not (600). Tighten them with the owner your containers run as where you can.
umask 022
openssl req -x509 -new -nodes -newkey rsa:3072 -sha256 -days "$DAYS" -subj "/O=partd/CN=partd trial CA" \
  -keyout ca-key.pem -out ca.pem 2>/dev/null
chmod 600 ca-key.pem

issue() {  # issue NAME: NAME.p12 with the key and certificate for DNS:NAME and DNS:localhost
  local name="$1"
  openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/O=partd/CN=$name" -keyout "$name-key.pem" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' \
    "$name" > "$name.ext"
  openssl x509 -req -sha256 -days "$DAYS" -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  openssl pkcs12 -export -name "$name" -inkey "$name-key.pem" -in "$name.pem" -certfile ca.pem \
    -passout env:PARTD_TLS_KEYSTORE_PASSWORD -out "$name.p12"
  rm -f "$name.csr" "$name.ext" "$name-key.pem"  # the key lives only inside the password-protected store
  chmod 644 "$name.p12"
  openssl verify -CAfile ca.pem "$name.pem" >/dev/null
  if command -v keytool >/dev/null 2>&1; then
    keytool -list -storetype PKCS12 -keystore "$name.p12" -storepass:env PARTD_TLS_KEYSTORE_PASSWORD >/dev/null
  fi
}

for name in kafka-1 kafka-2 kafka-3 schema-registry; do
  issue "$name"
done
rm -f ca.srl
echo "written to $DIR: ca.pem (clients trust it), ca-key.pem (keep it out of every container)," \
     "kafka-1.p12 kafka-2.p12 kafka-3.p12 schema-registry.p12 (+ their certificates as .pem)"
