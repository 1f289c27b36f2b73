/* A stand-in for Windows' bcryptprimitives.dll, for running ingot.exe under wine 8 (Debian 12),
 * which lacks it. Rust's standard library (1.78 and later, Windows 10 and later) takes its
 * random bytes (HashMap keys) from ProcessPrng there; this one asks RtlGenRandom
 * (advapi32's SystemFunction036), which wine has. Windows itself never loads this file:
 * scripts/windows-cross.sh installs it into its own wine prefix only. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
