//! Model-based power-cut tests: every flash operation of a random sequence of store operations is cut in
//! turn; after a remount the store must equal the model before or after the interrupted operation, and be
//! fully usable. Cuts during the recovery done by that remount are tested too.

mod common;

use common::{Model, Rng, random_op, state, summary};
use hsm_store::flash::{PowerCut, RamFlash};
use hsm_store::{Error, Store};

struct Config {
    seed: u64,
    sectors: usize,
    ops: usize,
    fids: u16,
    max_size: usize,
    /// Test every `stride`-th cut point of an operation (1 = all).
    stride: u64,
}

fn image<const W: usize, const E: usize>(store: Store<PowerCut<RamFlash<W, E>>>) -> Vec<u8> {
    store.into_flash().into_inner().into_bytes()
}

/// Mounts `img`, cutting the power at each operation recovery performs; every such mount must fail and a
/// later clean mount must show `expected`. Returns the number of recovery operations.
fn check_recovery_cuts<const W: usize, const E: usize>(img: &[u8], expected: &Model, seed: u64) -> u64 {
    let mut counting = PowerCut::counting(RamFlash::<W, E>::from_image(img.to_vec()));
    let s = Store::mount(&mut counting).expect("remount");
    drop(s);
    let n = counting.ops();
    for m in 0..n {
        let mut ram = RamFlash::<W, E>::from_image(img.to_vec());
        let r = Store::mount(PowerCut::new(&mut ram, m, seed ^ m));
        assert!(
            matches!(r, Err(Error::Flash)),
            "mount with cut at recovery op {m} gave {:?}",
            r.err()
        );
        // And a second cut in the next recovery (it may have less to do: then the mount succeeds).
        let _ = Store::mount(PowerCut::new(&mut ram, m / 2, seed ^ m ^ 0x55)).map(drop);
        let mut s = Store::mount(&mut ram).expect("mount after cut recovery");
        let got = state(&mut s).expect("state after cut recovery");
        assert_eq!(&got, expected, "state changed by a cut during recovery (op {m})");
    }
    n
}

fn run<const W: usize, const E: usize>(cfg: &Config) -> (u64, u64) {
    let mut rng = Rng(cfg.seed);
    let mut flash = RamFlash::<W, E>::blank(cfg.sectors * E);
    let mut model = Model::new();
    // Sector size, record payload (sector minus headers), and a few others.
    let boundaries = [E, E - 28, E - 52, 4044, 1000];
    let (mut cuts, mut recoveries) = (0u64, 0u64);
    let (mut full, mut written, mut erased, mut files_max) = (0u64, 0u64, 0u64, 0usize);
    for i in 0..cfg.ops {
        let op = random_op(&mut rng, &model, cfg.fids, cfg.max_size, &boundaries);
        let before_img = flash.as_bytes().to_vec();
        // Reference run: count the flash operations of this store operation.
        let mut s = Store::mount(PowerCut::counting(RamFlash::<W, E>::from_image(before_img.clone()))).unwrap();
        let mut after = model.clone();
        match op.run(&mut s) {
            Ok(()) => op.apply(&mut after),
            Err(Error::Full | Error::TooLarge) => full += 1,
            Err(e) => panic!("op {i} {}: {e:?}", op.describe()),
        }
        assert_eq!(
            state(&mut s).unwrap(),
            after,
            "session state after op {i} {}",
            op.describe()
        );
        written += s.stats().bytes_written;
        erased += s.stats().sectors_erased;
        files_max = files_max.max(after.values().map(Vec::len).sum());
        let n_ops = s.into_flash().ops();
        let mut s = Store::mount(PowerCut::counting(RamFlash::<W, E>::from_image(before_img.clone()))).unwrap();
        let _ = op.run(&mut s);
        let after_img = image(s);

        let mut cut = rng.below(cfg.stride);
        while cut < n_ops {
            cuts += 1;
            let seed = cfg.seed ^ (i as u64) << 20 ^ cut;
            let mut s = Store::mount(PowerCut::new(
                RamFlash::<W, E>::from_image(before_img.clone()),
                cut,
                seed,
            ))
            .expect("mount of a clean image");
            let r = op.run(&mut s);
            assert_eq!(
                r,
                Err(Error::Flash),
                "op {i} {} with cut at {cut}/{n_ops}",
                op.describe()
            );
            let img = image(s);
            let mut s = match Store::mount(RamFlash::<W, E>::from_image(img.clone())) {
                Ok(s) => s,
                Err(e) => panic!("op {i} {} cut {cut}/{n_ops}: remount failed: {e:?}", op.describe()),
            };
            let got = state(&mut s).unwrap_or_else(|e| panic!("op {i} cut {cut}: state: {e:?}"));
            assert!(
                got == model || got == after,
                "op {i} {} cut at {cut}/{n_ops}: store is neither before nor after\n got    {}\n before {}\n after  {}",
                op.describe(),
                summary(&got),
                summary(&model),
                summary(&after)
            );
            drop(s);
            recoveries += check_recovery_cuts::<W, E>(&img, &got, seed ^ 0xABCD);
            // Still fully usable: a further write (and remount) works.
            let mut s = Store::mount(RamFlash::<W, E>::from_image(img)).unwrap();
            let mut expect = got.clone();
            let extra_len = rng.below(300) as usize;
            let extra = rng.bytes(extra_len);
            let fid = rng.below(u64::from(cfg.fids)) as u16;
            match s.write(fid, &extra) {
                Ok(()) => {
                    expect.insert(fid, extra);
                }
                Err(Error::Full) => {}
                Err(e) => panic!("write after recovery: {e:?}"),
            }
            let mut s = Store::mount(s.into_flash()).unwrap();
            assert_eq!(state(&mut s).unwrap(), expect, "op {i} cut {cut}: write after recovery");
            cut += 1 + rng.below(cfg.stride);
        }
        model = after;
        flash = RamFlash::<W, E>::from_image(after_img);
    }
    // Final state survives a remount.
    let mut s = Store::mount(flash).unwrap();
    assert_eq!(state(&mut s).unwrap(), model);
    println!(
        "  {} ops ({full} full), {written} bytes programmed, {erased} sectors erased ({:.1} passes over the flash), \
         at most {files_max} bytes of files",
        cfg.ops,
        erased as f64 / cfg.sectors as f64
    );
    (cuts, recoveries)
}

fn report(name: &str, (cuts, rec): (u64, u64)) {
    println!("{name}: {cuts} power cuts, {rec} cuts during recovery");
}

#[test]
fn power_cut_every_operation_write_size_1() {
    let cfg = Config {
        seed: 1,
        sectors: 40,
        ops: 700,
        fids: 6,
        max_size: 70 * 1024,
        stride: 1,
    };
    report("W=1", run::<1, 4096>(&cfg));
}

#[test]
fn power_cut_every_operation_small_sectors() {
    // 1 KiB sectors: files span many sectors, GC runs constantly.
    let cfg = Config {
        seed: 2,
        sectors: 48,
        ops: 1000,
        fids: 8,
        max_size: 12 * 1024,
        stride: 1,
    };
    report("E=1024", run::<1, 1024>(&cfg));
}

#[test]
fn power_cut_tiny_stores() {
    // Two and three sectors: GC reclaims the sector the operation in progress started in.
    let cfg = Config {
        seed: 5,
        sectors: 2,
        ops: 300,
        fids: 4,
        max_size: 700,
        stride: 1,
    };
    report("S=2", run::<1, 1024>(&cfg));
    let cfg = Config {
        seed: 6,
        sectors: 3,
        ops: 300,
        fids: 5,
        max_size: 1200,
        stride: 1,
    };
    report("S=3", run::<1, 1024>(&cfg));
    let cfg = Config {
        seed: 7,
        sectors: 2,
        ops: 200,
        fids: 5,
        max_size: 3000,
        stride: 1,
    };
    report("S=2 W=4", run::<4, 4096>(&cfg));
}

#[test]
fn power_cut_write_size_4() {
    let cfg = Config {
        seed: 3,
        sectors: 40,
        ops: 200,
        fids: 6,
        max_size: 70 * 1024,
        stride: 1,
    };
    report("W=4", run::<4, 4096>(&cfg));
}

#[test]
fn power_cut_write_size_256() {
    let cfg = Config {
        seed: 4,
        sectors: 40,
        ops: 200,
        fids: 6,
        max_size: 70 * 1024,
        stride: 1,
    };
    report("W=256", run::<256, 4096>(&cfg));
}

#[test]
#[ignore = "heavy: run with --ignored (release recommended)"]
fn power_cut_heavy() {
    for seed in 100..108 {
        let cfg = Config {
            seed,
            sectors: 40,
            ops: 200,
            fids: 10,
            max_size: 70 * 1024,
            stride: 1,
        };
        report("heavy W=1", run::<1, 4096>(&cfg));
        let cfg = Config {
            seed,
            sectors: 24,
            ops: 300,
            fids: 10,
            max_size: 8 * 1024,
            stride: 1,
        };
        report("heavy E=1024", run::<1, 1024>(&cfg));
    }
}
