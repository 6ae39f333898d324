//! A flash whose reads must be aligned (READ_SIZE 16): the store bounces unaligned reads.

mod common;

use common::{Model, Rng, random_op, state};
use embedded_storage::nor_flash::{ErrorType, MultiwriteNorFlash, NorFlash, NorFlashErrorKind, ReadNorFlash};
use hsm_store::Store;
use hsm_store::flash::{RamFlash, RamFlashError};

struct Aligned(RamFlash<4, 1024>);

impl ErrorType for Aligned {
    type Error = RamFlashError;
}

impl ReadNorFlash for Aligned {
    const READ_SIZE: usize = 16;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if !offset.is_multiple_of(16) || !bytes.len().is_multiple_of(16) {
            return Err(RamFlashError(NorFlashErrorKind::NotAligned));
        }
        self.0.read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl NorFlash for Aligned {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 1024;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.erase(from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.0.write(offset, bytes)
    }
}

impl MultiwriteNorFlash for Aligned {}

#[test]
fn aligned_reads_only() {
    let mut rng = Rng(31);
    let mut s = Store::mount(Aligned(RamFlash::blank(32 * 1024))).unwrap();
    let mut model = Model::new();
    for i in 0..600 {
        let op = random_op(&mut rng, &model, 8, 5000, &[1024, 996]);
        op.run(&mut s).unwrap();
        op.apply(&mut model);
        if i % 50 == 0 {
            s = Store::mount(s.into_flash()).unwrap();
            assert_eq!(state(&mut s).unwrap(), model);
            for (&fid, data) in &model {
                let off = rng.below(data.len() as u64 + 1) as usize;
                let mut buf = vec![0; rng.below(700) as usize];
                let n = s.read(fid, off, &mut buf).unwrap();
                assert_eq!(&buf[..n], &data[off..off + n]);
            }
        }
    }
    assert!(s.stats().sectors_erased > 10, "garbage collection ran: {:?}", s.stats());
}
