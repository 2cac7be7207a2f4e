//! `granska phantom`: write a synthetic screening data set.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use granska_phantom::{Options, PhotometricChoice, Size};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory (created if missing): DIR/STUDY_INSTANCE_UID/VIEW.dcm, labels.csv.
    #[arg(long)]
    out: PathBuf,
    /// Number of exams (four views each).
    #[arg(long, default_value_t = 10)]
    studies: u64,
    /// Seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Probability that an exam contains a lesion.
    #[arg(long, default_value_t = 0.5)]
    cancer_fraction: f64,
    /// Image size: small (512 px high, for tests) or full (2294 × 1914, detector-sized).
    #[arg(long, value_enum, default_value_t = SizeArg::Small)]
    size: SizeArg,
    /// Photometric interpretation of the images.
    #[arg(long, value_enum, default_value_t = PhotometricArg::Monochrome2)]
    photometric: PhotometricArg,
    /// Write Digital Mammography "For Processing" instead of "For Presentation".
    #[arg(long)]
    for_processing: bool,
    /// Write only the lesion-free twin of each exam that has a lesion (same UIDs and texture;
    /// the difference to the normal output is the lesion; used to train models).
    #[arg(long)]
    lesion_free_twins: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SizeArg {
    Small,
    Full,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PhotometricArg {
    Monochrome2,
    Monochrome1,
    Mixed,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.cancer_fraction) {
        anyhow::bail!("--cancer-fraction must be between 0 and 1, found {}", args.cancer_fraction);
    }
    let options = Options {
        size: match args.size {
            SizeArg::Small => Size::Small,
            SizeArg::Full => Size::Full,
        },
        cancer_fraction: args.cancer_fraction,
        photometric: match args.photometric {
            PhotometricArg::Monochrome2 => PhotometricChoice::Monochrome2,
            PhotometricArg::Monochrome1 => PhotometricChoice::Monochrome1,
            PhotometricArg::Mixed => PhotometricChoice::Mixed,
        },
        for_processing: args.for_processing,
    };
    if args.lesion_free_twins {
        let n = granska_phantom::write_lesion_free_twins(&args.out, args.studies, args.seed, &options)
            .with_context(|| format!("writing lesion-free twins to {}", args.out.display()))?;
        println!("wrote {n} lesion-free twins to {}", args.out.display());
        return Ok(ExitCode::SUCCESS);
    }
    let bar = super::progress_bar(args.studies, "generating phantoms");
    let summary = granska_phantom::write_dataset(&args.out, args.studies, args.seed, &options, |n| bar.set_position(n))
        .with_context(|| format!("writing phantoms to {}", args.out.display()))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "wrote {} exams ({} with a lesion, {} instances) to {}; labels in {}",
            summary.studies,
            summary.cancers,
            summary.instances,
            args.out.display(),
            args.out.join("labels.csv").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
