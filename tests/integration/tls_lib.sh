# tls_lib.sh: certificates for the TLS tests (sourced after lib.sh).
#
# make_certs makes, in $T/pki, with the openssl command-line tool:
#   ca.crt/key       the test CA
#   other-ca.crt     a CA that signed nothing here
#   srv.crt/key      a server certificate for DNS:localhost, from ca
#   old.crt          the same name and key, expired in 2020
#   cli.crt/key      a client certificate, from ca
# Keys are EC P-256: quick to make, and mbedtls 2.28 and OpenSSL agree.
# tls_skip_unless_built: skip when octomqttd was built --without-tls.

# shellcheck shell=sh

PKI=$T/pki

_ossl() {
	openssl "$@" >>"$PKI/openssl.log" 2>&1 || fail "openssl $1 failed: $(tail -n 5 "$PKI/openssl.log")"
}

_key_csr() {
	_ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$2"
}

_ca() {
	_ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$PKI/$1.key" -out "$PKI/$1.crt" -days 3650 -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
}

make_certs() {
	need openssl
	mkdir -p "$PKI"
	_ca ca "octomqttd test CA"
	_ca other-ca "octomqttd other CA"
	printf '%s\n' "subjectAltName=DNS:localhost" "basicConstraints=CA:FALSE" \
		"extendedKeyUsage=serverAuth" >"$PKI/srv.ext"
	printf '%s\n' "basicConstraints=CA:FALSE" "extendedKeyUsage=clientAuth" >"$PKI/cli.ext"
	_key_csr srv localhost
	_ossl x509 -req -in "$PKI/srv.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
		-set_serial 2 -days 3650 -extfile "$PKI/srv.ext" -out "$PKI/srv.crt"
	_key_csr cli octomqttd-client
	_ossl x509 -req -in "$PKI/cli.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
		-set_serial 3 -days 3650 -extfile "$PKI/cli.ext" -out "$PKI/cli.crt"
	# An expired certificate needs `openssl ca`, which takes any dates.
	: >"$PKI/index.txt"
	echo 04 >"$PKI/serial"
	cat >"$PKI/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $PKI/index.txt
serial = $PKI/serial
new_certs_dir = $PKI
default_md = sha256
policy = p
[p]
commonName = supplied
CNF
	_ossl ca -batch -notext -config "$PKI/ca.cnf" -cert "$PKI/ca.crt" -keyfile "$PKI/ca.key" \
		-in "$PKI/srv.csr" -out "$PKI/old.crt" -extfile "$PKI/srv.ext" \
		-startdate 20200101000000Z -enddate 20200102000000Z
}

tls_skip_unless_built() {
	printf 'broker.url = mqtts://localhost\nbroker.tls_verify = false\n' >"$T/probe-tls.conf"
	if ! "$OCTOMQTTD" -t -c "$T/probe-tls.conf" >"$T/probe-tls.out" 2>&1; then
		grep -q -- "--without-tls" "$T/probe-tls.out" && skip "built --without-tls"
		fail "octomqttd -t on an mqtts:// URL: $(cat "$T/probe-tls.out")"
	fi
}
