/* CRC32C (Castagnoli, iSCSI/Kafka's record batch checksum): no Debian library ships one for
 * C (zlib's crc32 is the other polynomial), so it lives here: SSE4.2 when the CPU has it,
 * else slicing-by-8 tables. */
#ifndef TLOG_CRC32C_H
#define TLOG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over p[0..n); start with 0. crc32c("123456789") = 0xE3069283. */
uint32_t tlog_crc32c(uint32_t crc, const void *p, size_t n);
/* The table path whatever the CPU (the tests compare both). */
uint32_t tlog_crc32c_soft(uint32_t crc, const void *p, size_t n);

#endif
