#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/params.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>

/* Macros that do not import into Swift. */
static inline int latchkey_evp_pkey_keypair(void) { return EVP_PKEY_KEYPAIR; }
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
