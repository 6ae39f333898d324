//! `cargo xtask firmware`: the board images (ELF → UF2) with their flash and RAM use, and
//! `cargo xtask m33-kat`: the known-answer tests on an emulated Cortex-M33.
//!
//! Both build in the separate `firmware/` workspace, which patches crypto-bigint (see
//! `firmware/Cargo.toml`): [`prepare_patches`] unpacks the published crate from cargo's cache into
//! `firmware/.patched/` and applies `firmware/patches/*.patch` with `git apply`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::steps;

/// A board the firmware is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Board {
    /// Raspberry Pi Pico (RP2040, Cortex-M0+)
    Pico,
    /// Raspberry Pi Pico 2 (RP2350, Cortex-M33, ARM mode)
    Pico2,
}

impl Board {
    pub const ALL: [Board; 2] = [Board::Pico, Board::Pico2];

    fn name(self) -> &'static str {
        match self {
            Board::Pico => "pico",
            Board::Pico2 => "pico2",
        }
    }

    fn feature(self) -> &'static str {
        match self {
            Board::Pico => "rp2040",
            Board::Pico2 => "rp235x",
        }
    }

    pub fn target(self) -> &'static str {
        match self {
            Board::Pico => "thumbv6m-none-eabi",
            Board::Pico2 => "thumbv8m.main-none-eabihf",
        }
    }

    /// UF2 family id (RP2040; RP2350 ARM secure image).
    fn family(self) -> u32 {
        match self {
            Board::Pico => 0xE48B_FF56,
            Board::Pico2 => 0xE48B_FF59,
        }
    }

    /// Flash the image may use (the store owns the rest; `firmware/board/src/layout.rs`).
    fn image_budget(self) -> u64 {
        match self {
            Board::Pico => 1024 * 1024,
            Board::Pico2 => 2 * 1024 * 1024,
        }
    }

    fn ram(self) -> u64 {
        match self {
            Board::Pico => 264 * 1024,
            Board::Pico2 => 520 * 1024,
        }
    }
}

const CRYPTO_BIGINT: &str = "crypto-bigint-0.7.11";

/// Makes `firmware/.patched/crypto-bigint-0.7.11` (the published crate plus our patch) if it is
/// missing or older than the patch.
pub fn prepare_patches(root: &Path) -> Result<(), String> {
    let patch = root
        .join("firmware/patches")
        .join(format!("{CRYPTO_BIGINT}-portable-atomic.patch"));
    let patch_text = std::fs::read(&patch).map_err(|e| format!("cannot read {}: {e}", patch.display()))?;
    let dir = root.join("firmware/.patched").join(CRYPTO_BIGINT);
    let marker = dir.join(".pico-hsm-patch");
    if std::fs::read(&marker).is_ok_and(|m| m == patch_text) {
        return Ok(());
    }
    let archive = match find_crate_archive() {
        Some(a) => a,
        None => {
            // The main workspace locks the same version: fetching it puts the archive in the cache.
            steps::run_cargo(root, &["fetch", "--locked"], &[])?;
            find_crate_archive().ok_or(format!(
                "{CRYPTO_BIGINT}.crate is not in cargo's cache after `cargo fetch`"
            ))?
        }
    };
    let parent = root.join("firmware/.patched");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    run(Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&parent))?;
    // Outside any repository (GIT_DIR points nowhere), `git apply` is a plain patch tool.
    run(Command::new("git")
        .args(["apply", "-p1"])
        .arg(&patch)
        .current_dir(&dir)
        .env("GIT_DIR", dir.join(".no-git")))?;
    std::fs::write(&marker, patch_text).map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    println!("xtask: patched {CRYPTO_BIGINT} in {}", dir.display());
    Ok(())
}

fn find_crate_archive() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let cache = home.join("registry/cache");
    std::fs::read_dir(cache)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join(format!("{CRYPTO_BIGINT}.crate")))
        .find(|p| p.is_file())
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let status = command.status().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// Builds the release image of `board`, writes `target/firmware/pico-hsm-<board>.uf2` and prints
/// the flash and RAM use. Fails when the image is over its flash budget.
pub fn build(root: &Path, board: Board) -> Result<PathBuf, String> {
    prepare_patches(root)?;
    let firmware = root.join("firmware");
    steps::run_cargo(
        &firmware,
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "pico-hsm-firmware",
            "--features",
            board.feature(),
            "--target",
            board.target(),
        ],
        &[],
    )?;
    let elf_path = root.join("target").join(board.target()).join("release/pico-hsm");
    let elf = std::fs::read(&elf_path).map_err(|e| format!("cannot read {}: {e}", elf_path.display()))?;
    let image = Image::parse(&elf)?;
    let uf2 = image.uf2(board.family());
    let out_dir = root.join("target/firmware");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let uf2_path = out_dir.join(format!("pico-hsm-{}.uf2", board.name()));
    std::fs::write(&uf2_path, &uf2).map_err(|e| format!("cannot write {}: {e}", uf2_path.display()))?;
    let elf_copy = out_dir.join(format!("pico-hsm-{}.elf", board.name()));
    std::fs::copy(&elf_path, &elf_copy).map_err(|e| format!("cannot write {}: {e}", elf_copy.display()))?;

    let flash = image.flash_bytes();
    let ram = image.static_ram;
    let heap = image.symbol_size("8HEAP_MEM").unwrap_or(0);
    let kib = |b: u64| b as f64 / 1024.0;
    println!(
        "xtask: {} ({}): flash {:.1} KiB of {:.0} KiB for the image ({:.1}%); static RAM {:.1} KiB of {:.0} KiB \
         (heap {:.0} KiB inside it), {:.1} KiB left for the stack",
        board.name(),
        board.target(),
        kib(flash),
        kib(board.image_budget()),
        100.0 * flash as f64 / board.image_budget() as f64,
        kib(ram),
        kib(board.ram()),
        kib(heap),
        kib(board.ram().saturating_sub(ram)),
    );
    println!(
        "xtask: wrote {} ({} bytes) and {}",
        uf2_path.display(),
        uf2.len(),
        elf_copy.display()
    );
    if flash > board.image_budget() {
        return Err(format!(
            "the {} image is {flash} bytes, over its {} byte budget",
            board.name(),
            board.image_budget()
        ));
    }
    Ok(uf2_path)
}

/// Runs the Cortex-M33 known-answer tests in qemu (`firmware/m33-kat`); fails unless they pass.
pub fn m33_kat(root: &Path) -> Result<(), String> {
    prepare_patches(root)?;
    let firmware = root.join("firmware");
    steps::run_cargo(
        &firmware,
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "hsm-m33-kat",
            "--target",
            "thumbv8m.main-none-eabihf",
        ],
        &[],
    )?;
    let elf = root.join("target/thumbv8m.main-none-eabihf/release/hsm-m33-kat");
    let mut qemu = Command::new("qemu-system-arm");
    qemu.args([
        "-M",
        "mps2-an505",
        "-cpu",
        "cortex-m33",
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        "-kernel",
    ])
    .arg(&elf);
    println!("$ {qemu:?}");
    let mut child = qemu.spawn().map_err(|e| format!("cannot run qemu-system-arm: {e}"))?;
    let limit = Duration::from_secs(120);
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("the Cortex-M33 known-answer tests failed ({status})"))
            };
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            return Err(format!("qemu did not finish within {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The loadable parts of an ELF image.
struct Image {
    /// (load address, bytes) of every segment stored in flash.
    segments: Vec<(u64, Vec<u8>)>,
    /// Bytes of RAM taken by static data (.data, .bss, .uninit).
    static_ram: u64,
    symbols: Vec<(String, u64)>,
}

impl Image {
    fn parse(elf: &[u8]) -> Result<Self, String> {
        use object::read::elf::{ElfFile32, FileHeader, ProgramHeader};
        use object::{Endianness, Object, ObjectSymbol};
        let file = ElfFile32::<Endianness>::parse(elf).map_err(|e| format!("not an ELF image: {e}"))?;
        let endian = file.endian();
        let mut segments = Vec::new();
        let mut static_ram = 0u64;
        for ph in file
            .elf_header()
            .program_headers(endian, elf)
            .map_err(|e| e.to_string())?
        {
            if ph.p_type(endian) != object::elf::PT_LOAD {
                continue;
            }
            let paddr = u64::from(ph.p_paddr(endian));
            let vaddr = u64::from(ph.p_vaddr(endian));
            let memsz = u64::from(ph.p_memsz(endian));
            let data = ph.data(endian, elf).map_err(|_| "bad ELF segment".to_string())?;
            if (0x2000_0000..0x3000_0000).contains(&vaddr) {
                static_ram += memsz;
            }
            if !data.is_empty() && (0x1000_0000..0x2000_0000).contains(&paddr) {
                segments.push((paddr, data.to_vec()));
            }
        }
        let symbols = file
            .symbols()
            .filter_map(|s| Some((s.name().ok()?.to_string(), s.size())))
            .collect();
        Ok(Self {
            segments,
            static_ram,
            symbols,
        })
    }

    fn flash_bytes(&self) -> u64 {
        self.segments.iter().map(|(_, d)| d.len() as u64).sum()
    }

    /// Size of the first symbol whose (mangled) name contains `part`.
    fn symbol_size(&self, part: &str) -> Option<u64> {
        self.symbols.iter().find(|(n, _)| n.contains(part)).map(|(_, s)| *s)
    }

    /// The UF2 file: 256-byte payloads at 256-byte aligned flash addresses (gaps inside a page
    /// filled with 0), every block flagged with the family id.
    fn uf2(&self, family: u32) -> Vec<u8> {
        let mut pages: std::collections::BTreeMap<u64, [u8; 256]> = std::collections::BTreeMap::new();
        for (addr, data) in &self.segments {
            for (i, byte) in data.iter().enumerate() {
                let a = addr + i as u64;
                pages.entry(a & !0xFF).or_insert([0; 256])[(a & 0xFF) as usize] = *byte;
            }
        }
        let total = pages.len() as u32;
        let mut out = Vec::with_capacity(pages.len() * 512);
        for (n, (addr, page)) in pages.iter().enumerate() {
            let mut block = [0u8; 512];
            let words: [u32; 8] = [
                0x0A32_4655, // magic start 0 ("UF2\n")
                0x9E5D_5157, // magic start 1
                0x0000_2000, // flags: family id present
                *addr as u32,
                256,
                n as u32,
                total,
                family,
            ];
            for (i, w) in words.iter().enumerate() {
                block[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            block[32..32 + 256].copy_from_slice(page);
            block[508..512].copy_from_slice(&0x0AB1_6F30u32.to_le_bytes()); // magic end
            out.extend_from_slice(&block);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Image;

    #[test]
    fn uf2_blocks_follow_the_format() {
        // Two segments: one crossing a page boundary, one in a later page.
        let image = Image {
            segments: vec![(0x1000_00F0, vec![0xAA; 0x20]), (0x1000_0400, vec![0x55; 4])],
            static_ram: 0,
            symbols: Vec::new(),
        };
        let uf2 = image.uf2(0xE48B_FF56);
        assert_eq!(uf2.len(), 3 * 512);
        let word = |b: &[u8], i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        let addrs: Vec<u32> = uf2.chunks(512).map(|b| word(b, 3)).collect();
        assert_eq!(addrs, [0x1000_0000, 0x1000_0100, 0x1000_0400]);
        for (n, block) in uf2.chunks(512).enumerate() {
            assert_eq!(word(block, 0), 0x0A32_4655);
            assert_eq!(word(block, 1), 0x9E5D_5157);
            assert_eq!(word(block, 2), 0x2000);
            assert_eq!(word(block, 4), 256);
            assert_eq!(word(block, 5), n as u32);
            assert_eq!(word(block, 6), 3);
            assert_eq!(word(block, 7), 0xE48B_FF56);
            assert_eq!(word(block, 127), 0x0AB1_6F30);
        }
        let first = &uf2[32..32 + 256];
        assert!(first[..0xF0].iter().all(|&b| b == 0));
        assert!(first[0xF0..].iter().all(|&b| b == 0xAA));
        let second = &uf2[512 + 32..512 + 32 + 256];
        assert!(second[..0x10].iter().all(|&b| b == 0xAA));
        assert!(second[0x10..].iter().all(|&b| b == 0));
        assert_eq!(&uf2[1024 + 32..1024 + 36], &[0x55; 4]);
    }
}
