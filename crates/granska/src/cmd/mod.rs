//! One module per subcommand: argument structs and the glue that calls the libraries.

pub mod admin;
pub mod audit;
pub mod client;
pub mod decode;
pub mod inspect;
pub mod load;
pub mod maintenance;
pub mod output;
pub mod phantom;
pub mod push;
pub mod reading;
pub mod research;
pub mod score;
pub mod serve;
pub mod token;

/// The validation profile selected by `--lenient`.
pub fn profile(lenient: bool) -> granska_dicom::Profile {
    if lenient { granska_dicom::Profile::Lenient } else { granska_dicom::Profile::Strict }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} exams, {elapsed} (eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}
