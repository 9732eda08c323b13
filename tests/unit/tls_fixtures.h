/*
 * tls_fixtures.h: a test CA, server certificates signed by it (one for
 * DNS:localhost, one that adds IP addresses), and an unrelated key, for
 * test_tls only (EC P-256, valid to 2126, made with the openssl tool).
 * Never used outside the unit tests.
 */
#ifndef TLS_FIXTURES_H
#define TLS_FIXTURES_H

static const char FX_CA_CRT[] = "-----BEGIN CERTIFICATE-----\n"
                                "MIIBqTCCAU+gAwIBAgIUbgPSc8ANZCJd2Y5do966agf9yGswCgYIKoZIzj0EAwIw\n"
                                "ITEfMB0GA1UEAwwWb2N0b21xdHRkIHVuaXQgdGVzdCBDQTAgFw0yNjEyMDIwNDE4\n"
                                "NDZaGA8yMTI2MTEwODA0MTg0NlowITEfMB0GA1UEAwwWb2N0b21xdHRkIHVuaXQg\n"
                                "dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJ+c7YWY/7kOTM/3XHFy\n"
                                "F5F6CiyFKmEVKWl2txssoxEXsjJf4CPJnT21yTfIrVpea/HIBeF8yw42VZn/aars\n"
                                "AVSjYzBhMB0GA1UdDgQWBBTz6SCYKKFekZ+KYiw0rsVd0YIk3TAfBgNVHSMEGDAW\n"
                                "gBTz6SCYKKFekZ+KYiw0rsVd0YIk3TAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB\n"
                                "/wQEAwIBBjAKBggqhkjOPQQDAgNIADBFAiASLBwDDlN86RYS+KPbixpiIQkxEQOC\n"
                                "9vPCPn8BJG8CIwIhAMcBI6Fc4k4tp/dVaAe59NeQK/NZwRIhslB3crcX9Dfo\n"
                                "-----END CERTIFICATE-----\n";

static const char FX_SRV_CRT[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBnjCCAUSgAwIBAgIBAjAKBggqhkjOPQQDAjAhMR8wHQYDVQQDDBZvY3RvbXF0\n"
        "dGQgdW5pdCB0ZXN0IENBMCAXDTI2MTIwMjA0MTg0NloYDzIxMjYxMTA4MDQxODQ2\n"
        "WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n"
        "AASEtqrX7EMApXm3/j3ahn/ztWVtb0oXkeggwUGh3Se++Roi2bhOOVY7YYBllf26\n"
        "SOeODkd1WfRg+darJvQRUAeYo3gwdjAUBgNVHREEDTALgglsb2NhbGhvc3QwCQYD\n"
        "VR0TBAIwADATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUCN7Fq3N5WZMp\n"
        "t+LngoVa0q/6qvMwHwYDVR0jBBgwFoAU8+kgmCihXpGfimIsNK7FXdGCJN0wCgYI\n"
        "KoZIzj0EAwIDSAAwRQIgS0E9e/ZIz5GIYbR8/+xqQoH5j1ISLiakK/abL4hua50C\n"
        "IQCBtpuAhKCjAdX45CQbSretSgIpX8460ZQJpqflsQMyXQ==\n"
        "-----END CERTIFICATE-----\n";

static const char FX_SRV_KEY[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFwqKX4XWVGHhLWLT\n"
        "9JzSisIU03zpzV8qXr8DmaxscGChRANCAASEtqrX7EMApXm3/j3ahn/ztWVtb0oX\n"
        "keggwUGh3Se++Roi2bhOOVY7YYBllf26SOeODkd1WfRg+darJvQRUAeY\n"
        "-----END PRIVATE KEY-----\n";

static const char FX_OTHER_KEY[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqQBNKbKopGvaJDB6\n"
        "SCBYuDIfAUq1G63aKD3ht0K7EL2hRANCAATLIH6s9FZA0HdRxpK4Mkti0OsDi3nH\n"
        "BrEdVAxzsGv7c2nSHvRh/i41ZYtRDGGz5jclKAL3NBv5XYbzxDoII2Yr\n"
        "-----END PRIVATE KEY-----\n";

/* The same key, certified for DNS:localhost, IP:127.0.0.1 and IP:::1. */
static const char FX_SRV_IP_CRT[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBtzCCAV6gAwIBAgIBBTAKBggqhkjOPQQDAjAhMR8wHQYDVQQDDBZvY3RvbXF0\n"
        "dGQgdW5pdCB0ZXN0IENBMCAXDTI2MTIwMjA1MDEzNFoYDzIxMjYxMTA4MDUwMTM0\n"
        "WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n"
        "AASEtqrX7EMApXm3/j3ahn/ztWVtb0oXkeggwUGh3Se++Roi2bhOOVY7YYBllf26\n"
        "SOeODkd1WfRg+darJvQRUAeYo4GRMIGOMCwGA1UdEQQlMCOCCWxvY2FsaG9zdIcE\n"
        "fwAAAYcQAAAAAAAAAAAAAAAAAAAAATAJBgNVHRMEAjAAMBMGA1UdJQQMMAoGCCsG\n"
        "AQUFBwMBMB0GA1UdDgQWBBQI3sWrc3lZkym34ueChVrSr/qq8zAfBgNVHSMEGDAW\n"
        "gBTz6SCYKKFekZ+KYiw0rsVd0YIk3TAKBggqhkjOPQQDAgNHADBEAiB90k/2j+Zn\n"
        "ykRO3V2Li+E5yQUyprr/9EmXGxVAKPc4NQIgV8cE5VY5l1WMGsHf0nRri7B69Fe5\n"
        "7VTLJKRRFt6fkEo=\n"
        "-----END CERTIFICATE-----\n";

#endif
