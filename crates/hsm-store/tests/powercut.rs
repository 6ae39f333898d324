//! Model-based power-cut tests: every flash operation of a random sequence of store operations is cut in
//! turn; after a remount the store must equal the model before or after the interrupted operation, and be
//! fully usable. Cuts during the recovery done by that remount are tested too.

mod common;

use common::{Model, Op, Rng, random_op, state, summary};
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
    /// How operations are chosen.
    ops_kind: Ops,
}

#[derive(Clone, Copy)]
enum Ops {
    /// `random_op`.
    Random,
    /// Cycles of: a few small writes, a write filling the store (`free_space` bytes), a `retain` that
    /// deletes several files at once (DelGroup or wipe), then small writes and deletes that need garbage
    /// collection in the full store. (A retain in a full store runs garbage collection in the middle of
    /// its group, which once let its deleted files come back at the next remount.)
    FullRetain,
}

/// The next operation of a `FullRetain` sequence (`free` is the store's `free_space`).
fn full_retain_op(rng: &mut Rng, model: &Model, i: usize, fids: u16, free: usize) -> Op {
    let fid = rng.below(u64::from(fids)) as u16;
    match i % 9 {
        0..=2 => Op::Write(fid, rng.bytes_below(48)),
        3 => Op::Write(fid, rng.bytes(free)),
        4 => {
            // Deletes at least two files when there are.
            let mut keep: Vec<u16> = model.keys().copied().filter(|_| rng.below(3) == 0).collect();
            while model.len() - keep.len() < 2 && !keep.is_empty() {
                keep.pop();
            }
            Op::Retain(keep)
        }
        5 | 7 => Op::Write(fid, rng.bytes_below(24)),
        6 => Op::Delete(model.keys().next().copied().unwrap_or(fid)),
        _ => Op::Delete(fid),
    }
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
        assert!(s.report().is_clean(), "cut at recovery op {m}: {:?}", s.report());
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
        let op = match cfg.ops_kind {
            Ops::Random => random_op(&mut rng, &model, cfg.fids, cfg.max_size, &boundaries),
            Ops::FullRetain => {
                let free = Store::mount(RamFlash::<W, E>::from_image(flash.as_bytes().to_vec()))
                    .unwrap()
                    .free_space();
                full_retain_op(&mut rng, &model, i, cfg.fids, free.min(cfg.max_size))
            }
        };
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
        // The session's space accounting matches the one mount rebuilds from the flash.
        let free = s.free_space();
        let mut m = Store::mount(RamFlash::<W, E>::from_image(s.flash_mut().inner().as_bytes().to_vec())).unwrap();
        assert_eq!(
            free,
            m.free_space(),
            "op {i} {}: free_space differs after a remount",
            op.describe()
        );
        assert_eq!(state(&mut m).unwrap(), after, "remount after op {i} {}", op.describe());
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
            // A power cut is no damage.
            assert!(
                s.report().is_clean(),
                "op {i} {} cut {cut}/{n_ops}: {:?}",
                op.describe(),
                s.report()
            );
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
        ops_kind: Ops::Random,
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
        ops_kind: Ops::Random,
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
        ops_kind: Ops::Random,
    };
    report("S=2", run::<1, 1024>(&cfg));
    let cfg = Config {
        seed: 6,
        sectors: 3,
        ops: 300,
        fids: 5,
        max_size: 1200,
        stride: 1,
        ops_kind: Ops::Random,
    };
    report("S=3", run::<1, 1024>(&cfg));
    let cfg = Config {
        seed: 7,
        sectors: 2,
        ops: 200,
        fids: 5,
        max_size: 3000,
        stride: 1,
        ops_kind: Ops::Random,
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
        ops_kind: Ops::Random,
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
        ops_kind: Ops::Random,
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
            ops_kind: Ops::Random,
        };
        report("heavy W=1", run::<1, 4096>(&cfg));
        let cfg = Config {
            seed,
            sectors: 24,
            ops: 300,
            fids: 10,
            max_size: 8 * 1024,
            stride: 1,
            ops_kind: Ops::Random,
        };
        report("heavy E=1024", run::<1, 1024>(&cfg));
    }
}

#[test]
fn power_cut_retain_in_full_store() {
    // A retain of several files in a full store (garbage collection inside the group), then more
    // operations, a cut at every flash operation.
    let cfg = Config {
        seed: 8,
        sectors: 8,
        ops: 160,
        fids: 8,
        max_size: 64 * 1024,
        stride: 1,
        ops_kind: Ops::FullRetain,
    };
    report("full retain W=1", run::<1, 4096>(&cfg));
    let cfg = Config {
        seed: 9,
        sectors: 6,
        ops: 160,
        fids: 10,
        max_size: 64 * 1024,
        stride: 1,
        ops_kind: Ops::FullRetain,
    };
    report("full retain W=256", run::<256, 4096>(&cfg));
    let cfg = Config {
        seed: 10,
        sectors: 12,
        ops: 200,
        fids: 12,
        max_size: 64 * 1024,
        stride: 1,
        ops_kind: Ops::FullRetain,
    };
    report("full retain E=1024", run::<1, 1024>(&cfg));
    let cfg = Config {
        seed: 11,
        sectors: 3,
        ops: 160,
        fids: 6,
        max_size: 64 * 1024,
        stride: 1,
        ops_kind: Ops::FullRetain,
    };
    report("full retain S=3 W=4", run::<4, 1024>(&cfg));
}
