//! `granska decode`: stored pixel values to .npy, for checking against other decoders; with
//! `--repeat N`, the best and median time of reading and decoding the file, in-process (what
//! `benches/decode-vs-pydicom.sh` compares with `pydicom.dcmread(f).pixel_array`).

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
    #[arg(short = 'o', long = "out", required_unless_present = "repeat")]
    out: Option<PathBuf>,
    /// Read and decode the file this many times (from the page cache after the first) and
    /// print `{"best_ms", "median_ms", "runs"}` as JSON.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: Option<u32>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(runs) = args.repeat {
        let mut ms = Vec::new();
        for _ in 0..runs {
            let started = std::time::Instant::now();
            let decoded = DicomFile::open(&args.file)
                .and_then(|f| f.mammogram(super::profile(args.lenient)).and_then(|_| f.pixels()));
            if let Err(e) = decoded {
                eprintln!("invalid: {e}");
                return Ok(ExitCode::FAILURE);
            }
            ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        let timing = serde_json::json!({ "best_ms": ms[0], "median_ms": ms[ms.len() / 2], "runs": runs });
        println!("{timing}");
        let Some(_) = &args.out else { return Ok(ExitCode::SUCCESS) };
    }
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
    let Some(out) = &args.out else { return Ok(ExitCode::SUCCESS) };
    match pixels.samples {
        Samples::U8(v) => write(out, shape, v),
        Samples::I8(v) => write(out, shape, v),
        Samples::U16(v) => write(out, shape, v),
        Samples::I16(v) => write(out, shape, v),
        Samples::U32(v) => write(out, shape, v),
        Samples::I32(v) => write(out, shape, v),
    }?;
    Ok(ExitCode::SUCCESS)
}

fn write<T: WritableElement>(out: &std::path::Path, shape: IxDyn, values: Vec<T>) -> anyhow::Result<()> {
    let array = ArrayD::from_shape_vec(shape, values).context("pixel count does not match the image shape")?;
    ndarray_npy::write_npy(out, &array).with_context(|| format!("writing {}", out.display()))
}
