//! Phantom views re-encoded by dcmtk (RLE, JPEG lossless process 14 and SV1, JPEG-LS lossless
//! and near-lossless), by pylibjpeg-openjpeg (JPEG 2000 lossless) and by OpenJPH (HTJ2K
//! lossless) decode exactly as pydicom decodes the same files.

use std::path::{Path, PathBuf};

use granska_dicom::{DicomFile, Profile};
use granska_phantom::{Options, PhotometricChoice, Size, generate_exam, write_exam};

use crate::support;

fn encodings(src: &Path, dir: &Path) -> Vec<(String, PathBuf)> {
    let stem = src.file_stem().expect("stem").to_string_lossy().into_owned();
    let out = |tag: &str| dir.join(format!("{stem}.{tag}.dcm"));
    let mut files = Vec::new();
    for (tag, program, flag) in [
        ("rle", "dcmcrle", None),
        ("jpeg-p14", "dcmcjpeg", Some("+el")),
        ("jpeg-sv1", "dcmcjpeg", Some("+e1")),
        ("jpegls", "dcmcjpls", Some("+el")),
        ("jpegls-near", "dcmcjpls", Some("+en")),
    ] {
        let dst = out(tag);
        let mut args: Vec<&Path> = Vec::new();
        if let Some(f) = flag {
            args.push(Path::new(f));
        }
        args.push(src);
        args.push(&dst);
        support::tool(program, &args);
        files.push((tag.to_owned(), dst));
    }
    let j2k = out("j2k");
    support::oracle(&["encode-j2k", src.to_str().expect("utf-8"), j2k.to_str().expect("utf-8")]);
    files.push(("j2k-lossless".to_owned(), j2k));
    let htj2k = out("htj2k");
    support::oracle(&["encode-htj2k", src.to_str().expect("utf-8"), htj2k.to_str().expect("utf-8")]);
    files.push(("htj2k-lossless".to_owned(), htj2k));
    files
}

#[test]
fn dcmtk_and_openjpeg_reencodings_decode_like_pydicom() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cases = Vec::new();
    for (seed, photometric) in [(3, PhotometricChoice::Monochrome2), (4, PhotometricChoice::Monochrome1)] {
        let options = Options { size: Size::Small, cancer_fraction: 1.0, photometric, for_processing: false };
        let exam = generate_exam(seed, 0, &options);
        let paths = write_exam(&exam, dir.path()).expect("written");
        for src in &paths[..2] {
            cases.extend(encodings(src, dir.path()));
        }
    }
    let files: Vec<PathBuf> = cases.iter().map(|c| c.1.clone()).collect();
    let (manifest, _npy) = support::pydicom_decode(&files);
    let mut seen = std::collections::BTreeSet::new();
    for ((tag, path), entry) in cases.iter().zip(&manifest) {
        assert_eq!(entry["ok"], true, "pydicom could not decode {tag}: {}", entry["error"]);
        let file = DicomFile::open(path).unwrap_or_else(|e| panic!("{tag}: {e}"));
        let meta = file.mammogram(Profile::Strict).unwrap_or_else(|e| panic!("{tag}: {e}"));
        seen.insert(meta.transfer_syntax.uid.clone());
        let pixels = file.pixels().unwrap_or_else(|e| panic!("{tag}: {e}"));
        assert_eq!(
            support::compare(&pixels, entry),
            Ok(None),
            "{tag} ({}) differs from pydicom",
            meta.transfer_syntax.name
        );
    }
    let expected: std::collections::BTreeSet<String> = [
        "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.201",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(seen, expected, "every re-encoding produced its transfer syntax");
}

/// Native pixel data decoded in place from the file's bytes (`open`, `from_vec`: the parser
/// stops at Pixel Data) equal the values of the full parse (`from_bytes`), in explicit and
/// implicit VR little endian (dcmtk's dcmconv writes the implicit copy), and the metadata is
/// the same.
#[test]
fn native_pixels_read_in_place_equal_the_full_parse() {
    let dir = tempfile::tempdir().unwrap();
    let exam = generate_exam(5, 0, &Options { size: Size::Small, ..Options::default() });
    let files = write_exam(&exam, dir.path()).unwrap();
    let explicit = &files[0];
    let implicit = dir.path().join("implicit.dcm");
    support::tool("dcmconv", &[Path::new("+ti"), explicit, &implicit]);
    for file in [explicit.as_path(), implicit.as_path()] {
        let bytes = std::fs::read(file).unwrap();
        let full = DicomFile::from_bytes(&bytes, "full").unwrap();
        let in_place = DicomFile::open(file).unwrap();
        assert_eq!(in_place.pixels().unwrap().samples, full.pixels().unwrap().samples, "{}", file.display());
        assert_eq!(in_place.mammogram(Profile::Strict).unwrap(), full.mammogram(Profile::Strict).unwrap());
        assert_eq!(full.transfer_syntax_uid(), in_place.transfer_syntax_uid());
    }
}
