//! The Rust preprocessing and ONNX Runtime session against independent Python ones:
//! `tests/oracle/reference.py` (NumPy + SciPy) and Python's `onnxruntime`.

use std::path::PathBuf;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use granska_dicom::{DicomFile, Profile};
use granska_model::contract::{ChestWall, Normalisation, PreprocessSpec};
use granska_model::preprocess::preprocess;
use granska_phantom::{Options, PhotometricChoice, Size};
use ndarray::{Array4, ArrayD};
use ndarray_npy::{read_npy, write_npy};

use crate::support;

/// Phantom files covering the spec's branches: MONOCHROME1 and 2, a detector-sized view,
/// no PatientOrientation (content-based side), SIGMOID and LINEAR_EXACT windows with a
/// non-identity rescale, and no window at all (the percentile fallback).
fn views(dir: &std::path::Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let small = |photometric| Options { size: Size::Small, cancer_fraction: 1.0, photometric, for_processing: false };
    let e2 = granska_phantom::generate_exam(9101, 0, &small(PhotometricChoice::Monochrome2));
    let e1 = granska_phantom::generate_exam(9101, 1, &small(PhotometricChoice::Monochrome1));
    let full =
        granska_phantom::generate_exam(9102, 0, &Options { size: Size::Full, ..small(PhotometricChoice::Monochrome2) });
    let mut write = |name: String,
                     mut obj: dicom_object::DefaultDicomObject,
                     edit: &dyn Fn(&mut dicom_object::DefaultDicomObject)| {
        edit(&mut obj);
        let path = dir.join(format!("{name}.dcm"));
        obj.write_to_file(&path).expect("writes");
        out.push((name, path));
    };
    for i in 0..4 {
        write(format!("mono2-{i}"), granska_phantom::to_dicom(&e2, i), &|_| {});
        write(format!("mono1-{i}"), granska_phantom::to_dicom(&e1, i), &|_| {});
    }
    write("full-rmlo".into(), granska_phantom::to_dicom(&full, 3), &|_| {});
    let ds = |v: f64| PrimitiveValue::from(format!("{v}"));
    for (name, i, function) in [("sigmoid-no-orientation", 2, "SIGMOID"), ("linear-exact-rescaled", 1, "LINEAR_EXACT")]
    {
        let (c, w) = e2.views[i].window.expect("phantom has a window");
        write(name.into(), granska_phantom::to_dicom(&e2, i), &|o| {
            o.put(DataElement::new(tags::RESCALE_SLOPE, VR::DS, ds(2.0)));
            o.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, ds(-50.0)));
            o.put(DataElement::new(tags::WINDOW_CENTER, VR::DS, ds(2.0 * c - 50.0)));
            o.put(DataElement::new(tags::WINDOW_WIDTH, VR::DS, ds(2.0 * w)));
            o.put(DataElement::new(tags::VOILUT_FUNCTION, VR::CS, PrimitiveValue::from(function)));
            if function == "SIGMOID" {
                o.remove_element(tags::PATIENT_ORIENTATION);
            }
        });
    }
    write("no-window".into(), granska_phantom::to_dicom(&e1, 3), &|o| {
        o.remove_element(tags::WINDOW_CENTER);
        o.remove_element(tags::WINDOW_WIDTH);
    });
    out
}

fn specs() -> Vec<(&'static str, PreprocessSpec, usize, usize)> {
    let shipped = granska_model::Model::load(support::shipped_dir()).expect("shipped model").card;
    let base = shipped.preprocess.clone();
    vec![
        ("shipped", base.clone(), shipped.input.height(), shipped.input.width()),
        (
            "percentile",
            PreprocessSpec { normalisation: Normalisation::Percentile, percentiles: [2.0, 98.0], ..base.clone() },
            256,
            200,
        ),
        (
            "fixed-right-standardised",
            PreprocessSpec {
                normalisation: Normalisation::Fixed,
                fixed: Some([300.0, 3500.0]),
                chest_wall: ChestWall::Right,
                crop_threshold: 0.1,
                mean: 0.3,
                std: 0.2,
                ..base
            },
            512,
            512,
        ),
    ]
}

#[test]
fn preprocessing_equals_the_numpy_reference() {
    let dir = tempfile::tempdir().expect("temp dir");
    let views = views(dir.path());
    let mut worst = 0.0f32;
    let mut report = String::new();
    for (label, spec, h, w) in specs() {
        let json = serde_json::json!({
            "height": h, "width": w,
            "normalisation": spec.normalisation, "percentiles": spec.percentiles,
            "fixed": spec.fixed.unwrap_or([0.0, 4095.0]), "chest_wall": spec.chest_wall,
            "crop_threshold": spec.crop_threshold, "mean": spec.mean, "std": spec.std,
        });
        let out = dir.path().join(label);
        let mut args = vec!["preprocess".to_string(), json.to_string(), out.display().to_string()];
        args.extend(views.iter().map(|(_, p)| p.display().to_string()));
        support::reference(&args.iter().map(String::as_str).collect::<Vec<_>>());
        for (i, (name, path)) in views.iter().enumerate() {
            let f = DicomFile::open(path).expect("opens");
            let meta = f.mammogram(Profile::Strict).expect("valid");
            let pixels = f.pixels().expect("decodes");
            let ours = preprocess(&meta, &pixels, &spec, h, w).expect("preprocesses");
            let theirs: ArrayD<f32> = read_npy(out.join(format!("{i}.npy"))).expect("reads npy");
            assert_eq!(theirs.shape(), [1, h, w], "{label}/{name}");
            let diff = ours.tensor.iter().zip(theirs.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            let mean = ours.tensor.iter().map(|v| v.abs()).sum::<f32>() / ours.tensor.len() as f32;
            report.push_str(&format!(
                "{label}/{name}: max |diff| {diff:.2e}, mean |value| {mean:.3}, mirrored {}\n",
                ours.mirrored
            ));
            worst = worst.max(diff);
        }
    }
    println!("{report}");
    // Both sides compute in f64 and round once to f32; 1e-5 is the bar, far above the
    // f32 rounding (6e-8) that separates them.
    assert!(worst <= 1e-5, "preprocessing differs from the NumPy reference by {worst}:\n{report}");
}

#[test]
fn ort_scores_equal_python_onnxruntime_on_the_same_tensors() {
    let scorer = support::shipped();
    let card = &scorer.model.card;
    let (h, w) = (card.input.height(), card.input.width());
    let options = Options { cancer_fraction: 0.5, photometric: PhotometricChoice::Mixed, ..Options::default() };
    let mut tensors = Vec::new();
    for exam in support::exams(9103, 3, &options) {
        for i in 0..exam.views.len() {
            let (_, meta, pixels) = support::view(&exam, i);
            tensors.push(preprocess(&meta, &pixels, &card.preprocess, h, w).expect("preprocesses").tensor);
        }
    }
    let n = tensors.len();
    let ours = scorer.engine.infer(tensors.clone()).expect("infers");
    let dir = tempfile::tempdir().expect("temp dir");
    let npy = dir.path().join("batch.npy");
    let batch = Array4::from_shape_vec((n, 1, h, w), tensors.concat()).expect("shape");
    write_npy(&npy, &batch).expect("writes npy");
    let onnx = scorer.model.onnx_path.display().to_string();
    let theirs: Vec<f64> =
        serde_json::from_str(&support::reference(&["ort", &onnx, &card.input.name, npy.to_str().expect("utf-8")]))
            .expect("json");
    assert_eq!(theirs.len(), n);
    let worst = ours.iter().zip(&theirs).map(|(a, b)| (f64::from(a.probability) - b).abs()).fold(0.0, f64::max);
    println!("{n} views: max |rust - python| = {worst:.2e}");
    assert!(worst <= 1e-5, "Rust and Python onnxruntime differ by {worst}");
}
