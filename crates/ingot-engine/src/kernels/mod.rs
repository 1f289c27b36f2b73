//! ingot's own CPU kernels, installed into ggml's dispatch table.
//!
//! ggml's CPU backend multiplies a quantized weight matrix by a batch of activations with a
//! per-type `vec_dot` kernel from a table (`type_traits_cpu`), which may handle two rows and
//! two columns per call when the table says `nrows = 2`. On ARM with i8mm it does so for
//! Q4_0, Q4_1 and Q8_0; on x86 every `vec_dot` takes one row and one column, and of those types
//! only Q4_0 and Q8_0 have faster batched paths (repacking, tinyBLAS). A Q4_1 model (the
//! catalog's SmolLM2 file) therefore pays the whole per-block overhead once per row *and* per
//! column whenever a batch holds more than one token: several sequences decoding together,
//! draft tokens being verified, prompts.
//!
//! [`install`] puts [`q4_1_x86::dot_2x2`] into that table on x86-64 CPUs with AVX2, FMA and
//! F16C ([`q4_1_x86::dot_2x2_vnni`] where the CPU also has AVX-512 VNNI: a portable ggml build
//! does not use it, and llama.cpp built for the machine does). The table is ggml's and read-only after relocation, so the entry is written with the
//! page made writable for the moment, and only when every check passes:
//! - ggml's entry is what this crate was written against (`vec_dot_type` Q8_1, one row);
//! - ggml was built with AVX2, FMA and F16C (its one-row kernel is then the AVX2 one);
//! - the kernel gives the same bits as ggml's own on random blocks (`self_check`), so a
//!   batch's logits do not depend on which kernel ggml picked for it, and outputs stay
//!   exactly those of plain decoding.
//!
//! Otherwise nothing is touched and ggml's kernel runs, as it does on every other platform.

#[cfg(all(target_arch = "x86_64", not(feature = "dynamic-backends")))]
pub use ingot_kernels::q4_1_x86;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// What [`install`] did, for logs and `ingot --verbose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelStatus {
    /// ingot's kernel runs for the type.
    Installed(Kernel),
    /// ggml's own kernel runs; the reason says why.
    Skipped(String),
}

/// Which of ingot's Q4_1 kernels runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// [`q4_1_x86::dot_2x2`]: AVX2, FMA, F16C.
    Avx2,
    /// [`q4_1_x86::dot_2x2_vnni`]: the same with AVX-512 VNNI.
    Avx512Vnni,
}

impl Kernel {
    fn name(self) -> &'static str {
        match self {
            Kernel::Avx2 => "AVX2",
            Kernel::Avx512Vnni => "AVX-512 VNNI",
        }
    }
}

/// Which kernels [`install`] may use (`INGOT_KERNELS` in the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelChoice {
    /// The fastest of ingot's kernels the CPU runs (the default).
    Best,
    /// ingot's AVX2 kernel even where the CPU has VNNI, to compare the two.
    Avx2,
    /// ggml's own kernels everywhere, to compare against them.
    Ggml,
}

static CHOICE: AtomicU8 = AtomicU8::new(0);
static STATUS: OnceLock<KernelStatus> = OnceLock::new();

/// Sets which kernels [`install`] may use. Takes effect only before the first model loads;
/// afterwards the choice is made.
pub fn set_choice(choice: KernelChoice) {
    let v = match choice {
        KernelChoice::Best => 0,
        KernelChoice::Avx2 => 1,
        KernelChoice::Ggml => 2,
    };
    CHOICE.store(v, Ordering::SeqCst);
}

fn choice() -> KernelChoice {
    match CHOICE.load(Ordering::SeqCst) {
        1 => KernelChoice::Avx2,
        2 => KernelChoice::Ggml,
        _ => KernelChoice::Best,
    }
}

/// Installs the kernels once (called when the llama.cpp backend is initialised, before any
/// model can compute) and says what happened.
pub fn install() -> &'static KernelStatus {
    STATUS.get_or_init(|| {
        let choice = choice();
        if choice == KernelChoice::Ggml {
            return KernelStatus::Skipped("turned off".into());
        }
        let (status, notable) = install_q4_1(choice);
        let text = describe_status(&status);
        match status {
            KernelStatus::Installed(_) => tracing::info!("{text}"),
            // Where the kernel should have run: worth a warning, it costs speed.
            KernelStatus::Skipped(_) if notable => tracing::warn!("{text}"),
            KernelStatus::Skipped(_) => tracing::debug!("{text}"),
        }
        status
    })
}

/// Whether ggml's CPU kernel for weights of `ggml_type` takes two rows and two columns per
/// call, so that a batch with an odd number of tokens costs about as much as one with a
/// token more (ggml then falls back to one row per call for the whole product).
pub fn pairs_rows(ggml_type: u32) -> bool {
    if ggml_type as usize >= llama_cpp_sys_2::GGML_TYPE_COUNT as usize {
        return false;
    }
    // SAFETY: in bounds of ggml's static table (checked above).
    let entry = unsafe { llama_cpp_sys_2::ggml_get_type_traits_cpu(ggml_type as _) };
    !entry.is_null() && unsafe { (*entry).nrows } == 2
}

/// The outcome of [`install`], if it ran.
pub fn status() -> Option<&'static KernelStatus> {
    STATUS.get()
}

/// The kernel choice in words, for llama.cpp's system info line (`model run --verbose`,
/// benchmark manifests): which Q4_1 kernel ran the numbers is part of what was measured.
pub fn describe() -> String {
    status().map_or_else(
        || "Q4_1 x Q8_1 kernel: not chosen yet".into(),
        describe_status,
    )
}

fn describe_status(status: &KernelStatus) -> String {
    match status {
        KernelStatus::Installed(kernel) => {
            format!("Q4_1 x Q8_1 kernel: ingot 2x2 {}", kernel.name())
        }
        KernelStatus::Skipped(why) => format!("Q4_1 x Q8_1 kernel: ggml's ({why})"),
    }
}

#[cfg(not(all(
    target_arch = "x86_64",
    any(target_os = "linux", target_os = "windows"),
    not(feature = "dynamic-backends")
)))]
fn install_q4_1(_choice: KernelChoice) -> (KernelStatus, bool) {
    (
        KernelStatus::Skipped("no ingot kernel for this platform".into()),
        false,
    )
}

#[cfg(all(
    target_arch = "x86_64",
    any(target_os = "linux", target_os = "windows"),
    not(feature = "dynamic-backends")
))]
/// The outcome, and whether a skip is notable (the platform should have run the kernel).
fn install_q4_1(choice: KernelChoice) -> (KernelStatus, bool) {
    use llama_cpp_sys_2 as sys;

    if !q4_1_x86::supported() {
        return (
            KernelStatus::Skipped("the CPU lacks AVX2, FMA or F16C".into()),
            false,
        );
    }
    if !ggml_built_for_avx2() {
        return (
            KernelStatus::Skipped("ggml was built without AVX2, FMA or F16C".into()),
            false,
        );
    }
    // SAFETY: returns a pointer into ggml's static table, valid for the whole process.
    let entry = unsafe { sys::ggml_get_type_traits_cpu(sys::GGML_TYPE_Q4_1) }
        as *mut sys::ggml_type_traits_cpu;
    if entry.is_null() {
        return (
            KernelStatus::Skipped("ggml has no CPU traits for Q4_1".into()),
            true,
        );
    }
    // SAFETY: the entry is a valid, initialised `ggml_type_traits_cpu` (read only here).
    let current = unsafe { entry.read() };
    let Some(ggml_dot) = current.vec_dot else {
        return (
            KernelStatus::Skipped("ggml has no Q4_1 dot kernel".into()),
            true,
        );
    };
    if current.vec_dot_type != sys::GGML_TYPE_Q8_1 || current.nrows != 1 {
        let why = format!(
            "ggml's Q4_1 entry is not the one expected (vec_dot_type {}, nrows {})",
            current.vec_dot_type, current.nrows
        );
        return (KernelStatus::Skipped(why), true);
    }
    let kernel = if choice == KernelChoice::Best && q4_1_x86::supported_vnni() {
        Kernel::Avx512Vnni
    } else {
        Kernel::Avx2
    };
    let (ours, entry_fn): (Dot2x2, q4_1_x86::VecDot) = match kernel {
        Kernel::Avx2 => (q4_1_x86::dot_2x2, q4_1_vec_dot),
        Kernel::Avx512Vnni => (q4_1_x86::dot_2x2_vnni, q4_1_vec_dot_vnni),
    };
    // SAFETY: `kernel` is one this CPU supports (checked above), and so is ggml's AVX2 one.
    if let Err(bits) = unsafe { self_check(ours, ggml_dot) } {
        let why = format!("its results differ from ggml's ({bits})");
        return (KernelStatus::Skipped(why), true);
    }
    // `install` runs once per process, so this is the first and only value.
    let _ = GGML_Q4_1.set(ggml_dot);
    let patched = sys::ggml_type_traits_cpu {
        vec_dot: Some(entry_fn),
        nrows: 2,
        ..current
    };
    // SAFETY: `entry` points at ggml's table entry; `write_protected` makes its page
    // writable for the write and restores the protection it had. Nothing computes yet (the
    // backend is being initialised), so no thread reads the entry while it changes.
    match unsafe { write_protected(entry, patched) } {
        Ok(()) => (KernelStatus::Installed(kernel), false),
        Err(e) => (
            KernelStatus::Skipped(format!("cannot write ggml's table: {e}")),
            true,
        ),
    }
}

/// Whether ggml was compiled with AVX2, FMA and F16C, so that its one-row Q4_1 kernel is the
/// AVX2 one [`q4_1_x86::dot_2x2`] reproduces.
#[cfg(all(target_arch = "x86_64", not(feature = "dynamic-backends")))]
pub fn ggml_built_for_avx2() -> bool {
    use llama_cpp_sys_2 as sys;
    // SAFETY: plain queries of how ggml was compiled.
    unsafe {
        sys::ggml_cpu_has_avx2() != 0
            && sys::ggml_cpu_has_fma() != 0
            && sys::ggml_cpu_has_f16c() != 0
    }
}

/// ggml's own Q4_1 kernel, for the one-row calls ggml still makes (odd batch sizes, odd
/// chunks, `mul_mat_id`).
#[cfg(all(target_arch = "x86_64", not(feature = "dynamic-backends")))]
static GGML_Q4_1: OnceLock<q4_1_x86::VecDot> = OnceLock::new();

/// One of ingot's two-by-two kernels ([`q4_1_x86::dot_2x2`] and its VNNI form).
#[cfg(all(target_arch = "x86_64", not(feature = "dynamic-backends")))]
pub type Dot2x2 = unsafe fn(usize, *mut f32, usize, *const u8, usize, *const u8, usize);

/// The table's new Q4_1 entry: two rows and two columns with ingot's kernel, one with ggml's.
/// One entry per kernel, so that the choice costs no indirection per call.
macro_rules! q4_1_entry {
    ($name:ident, $kernel:path) => {
        #[cfg(all(target_arch = "x86_64", not(feature = "dynamic-backends")))]
        unsafe extern "C" fn $name(
            n: i32,
            s: *mut f32,
            bs: usize,
            vx: *const std::ffi::c_void,
            bx: usize,
            vy: *const std::ffi::c_void,
            by: usize,
            nrc: i32,
        ) {
            if nrc == 2 {
                // SAFETY: installed only where the CPU supports the kernel; ggml passes valid
                // rows and outputs.
                $kernel(n as usize, s, bs, vx as *const u8, bx, vy as *const u8, by);
            } else if let Some(ggml) = GGML_Q4_1.get() {
                ggml(n, s, bs, vx, bx, vy, by, nrc);
            }
        }
    };
}
q4_1_entry!(q4_1_vec_dot, q4_1_x86::dot_2x2);
q4_1_entry!(q4_1_vec_dot_vnni, q4_1_x86::dot_2x2_vnni);

/// The first dot product where ingot's kernel and ggml's disagree (see [`self_check`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("n {n}, pair {pair}: {ours} against ggml's {ggml}")]
pub struct KernelMismatch {
    /// Values per row.
    pub n: usize,
    /// Which of the four row-column pairs (row-major over the two columns).
    pub pair: usize,
    pub ours: f32,
    pub ggml: f32,
}

/// Compares one of ingot's Q4_1 kernels, `ours`, with `ggml` (ggml's own one-row kernel) on
/// random blocks (fixed seed, scales across the f16 range ggml's quantizers produce, lengths
/// of real models' rows); `Err` names the first difference. [`install`] runs it first.
///
/// # Safety
/// The CPU must support both kernels.
#[cfg(all(target_arch = "x86_64", not(feature = "dynamic-backends")))]
pub unsafe fn self_check(ours: Dot2x2, ggml: q4_1_x86::VecDot) -> Result<(), KernelMismatch> {
    use q4_1_x86::{Q4_1_BLOCK, Q8_1_BLOCK, QK};
    let ours_fn = ours;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for &n in &[32usize, 576, 1536, 2048] {
        let nb = n / QK;
        let mut x = vec![0u8; 2 * nb * Q4_1_BLOCK];
        let mut y = vec![0u8; 2 * nb * Q8_1_BLOCK];
        for round in 0..8 {
            for (i, blk) in x.chunks_mut(Q4_1_BLOCK).enumerate() {
                blk[0..2].copy_from_slice(&scale(next(), round + i).to_le_bytes());
                blk[2..4].copy_from_slice(&(scale(next(), round + i) ^ 0x8000).to_le_bytes());
                blk[4..].iter_mut().for_each(|b| *b = next() as u8);
            }
            for (i, blk) in y.chunks_mut(Q8_1_BLOCK).enumerate() {
                blk[0..2].copy_from_slice(&scale(next(), round + i).to_le_bytes());
                blk[2..4].copy_from_slice(&scale(next(), round + i + 1).to_le_bytes());
                blk[4..].iter_mut().for_each(|b| *b = next() as u8);
            }
            let (bx, by) = (nb * Q4_1_BLOCK, nb * Q8_1_BLOCK);
            let mut ours = [0f32; 4];
            let mut theirs = [0f32; 4];
            // SAFETY: two rows and two columns of `nb` blocks each, four outputs.
            unsafe {
                ours_fn(n, ours.as_mut_ptr(), 2, x.as_ptr(), bx, y.as_ptr(), by);
                for (k, (r, c)) in [(0, 0), (1, 0), (0, 1), (1, 1)].into_iter().enumerate() {
                    ggml(
                        n as i32,
                        theirs.as_mut_ptr().add(k),
                        0,
                        x.as_ptr().add(r * bx).cast(),
                        0,
                        y.as_ptr().add(c * by).cast(),
                        0,
                        1,
                    );
                }
            }
            for k in 0..4 {
                if ours[k].to_bits() != theirs[k].to_bits() {
                    return Err(KernelMismatch {
                        n,
                        pair: k,
                        ours: ours[k],
                        ggml: theirs[k],
                    });
                }
            }
        }
    }
    Ok(())
}

/// A finite f16 scale (bits) of varied magnitude: exponents 2^-14 .. 2^1, as quantized
/// models' block scales are small.
#[cfg(all(target_arch = "x86_64", not(feature = "dynamic-backends")))]
fn scale(r: u64, salt: usize) -> u16 {
    let exponent = 1 + ((r >> 10) as u16).wrapping_add(salt as u16) % 16; // biased 1..=16
    let mantissa = (r as u16) & 0x03FF;
    let sign = if (r >> 20) & 1 == 1 { 0x8000 } else { 0 };
    sign | (exponent << 10) | mantissa
}

/// Writes `value` to `*target`, a location in memory that may be read-only, restoring the
/// page's protection afterwards.
#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(feature = "dynamic-backends")
))]
unsafe fn write_protected<T>(target: *mut T, value: T) -> Result<(), String> {
    let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
    let start = (target as usize) & !(page - 1);
    let end = (target as usize + std::mem::size_of::<T>()).div_ceil(page) * page;
    let prot = protection_of(target as usize)?;
    if prot & libc::PROT_WRITE != 0 {
        target.write(value);
        return Ok(());
    }
    let addr = start as *mut libc::c_void;
    if libc::mprotect(addr, end - start, prot | libc::PROT_WRITE) != 0 {
        return Err(format!("mprotect: {}", std::io::Error::last_os_error()));
    }
    target.write(value);
    if libc::mprotect(addr, end - start, prot) != 0 {
        return Err(format!(
            "mprotect back: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The protection of the mapping holding `addr`, from `/proc/self/maps` (so that it is
/// restored exactly, whatever the linker made of the table's section).
#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(feature = "dynamic-backends")
))]
fn protection_of(addr: usize) -> Result<i32, String> {
    let maps =
        std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((lo, hi)) = range.split_once('-') else {
            continue;
        };
        let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
        else {
            continue;
        };
        if (lo..hi).contains(&addr) {
            let p = perms.as_bytes();
            let mut prot = 0;
            if p.first() == Some(&b'r') {
                prot |= libc::PROT_READ;
            }
            if p.get(1) == Some(&b'w') {
                prot |= libc::PROT_WRITE;
            }
            if p.get(2) == Some(&b'x') {
                prot |= libc::PROT_EXEC;
            }
            return Ok(prot);
        }
    }
    Err(format!("no mapping holds {addr:#x}"))
}

#[cfg(all(
    target_arch = "x86_64",
    target_os = "windows",
    not(feature = "dynamic-backends")
))]
unsafe fn write_protected<T>(target: *mut T, value: T) -> Result<(), String> {
    use windows_sys::Win32::System::Memory::{
        VirtualProtect, PAGE_PROTECTION_FLAGS, PAGE_READWRITE,
    };
    let mut old: PAGE_PROTECTION_FLAGS = 0;
    let len = std::mem::size_of::<T>();
    if VirtualProtect(target.cast(), len, PAGE_READWRITE, &mut old) == 0 {
        return Err(format!(
            "VirtualProtect: {}",
            std::io::Error::last_os_error()
        ));
    }
    target.write(value);
    let mut ignored: PAGE_PROTECTION_FLAGS = 0;
    if VirtualProtect(target.cast(), len, old, &mut ignored) == 0 {
        return Err(format!(
            "VirtualProtect back: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
