// The system's OpenSSL libcrypto (Debian libssl-dev): the message digests iSCSI CHAP needs.
#include <openssl/evp.h>
