//! `granska decode`: stored pixel values to .npy, for checking against other decoders.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use granska_dicom::{DicomFile, Samples};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::WritableElement;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accept Secondary Capture / digitised film and infer laterality and view.
    #[arg(long)]
    lenient: bool,
    /// The DICOM file.
    file: PathBuf,
    /// Output .npy path: shape [rows, columns] (frames first when more than one), stored
    /// signedness and width, no rescale, VOI or inversion.
    #[arg(short = 'o', long = "out")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = match DicomFile::open(&args.file).and_then(|f| f.mammogram(super::profile(args.lenient)).map(|_| f)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("invalid: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let pixels = match file.pixels() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("invalid: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let shape = IxDyn(&pixels.shape);
    match pixels.samples {
        Samples::U8(v) => write(&args.out, shape, v),
        Samples::I8(v) => write(&args.out, shape, v),
        Samples::U16(v) => write(&args.out, shape, v),
        Samples::I16(v) => write(&args.out, shape, v),
        Samples::U32(v) => write(&args.out, shape, v),
        Samples::I32(v) => write(&args.out, shape, v),
    }?;
    Ok(ExitCode::SUCCESS)
}

fn write<T: WritableElement>(out: &std::path::Path, shape: IxDyn, values: Vec<T>) -> anyhow::Result<()> {
    let array = ArrayD::from_shape_vec(shape, values).context("pixel count does not match the image shape")?;
    ndarray_npy::write_npy(out, &array).with_context(|| format!("writing {}", out.display()))
}
