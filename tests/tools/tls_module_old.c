/*
 * tls_module_old: a TLS module of another interface version, which the
 * daemon must refuse by name (tests/integration/tls_module.sh).
 */
#include "config.h"

#include "tls_mbedtls.h"

const struct tls_ops tls_mbedtls_ops = {
        .version = TLS_OPS_VERSION + 1,
        .size = sizeof(struct tls_ops),
};
