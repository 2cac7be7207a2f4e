//! The committed model against its card: hash, held-out discrimination and calibration, on
//! phantoms from seeds never used in training (train.py uses 1001–1005; these are 9001–9002).

use granska_model::exam::ViewInput;
use granska_phantom::{Options, PhotometricChoice};

use crate::support;

fn score(seed: u64, n: u64, cancer_fraction: f64) -> Vec<(f64, bool, u8)> {
    let scorer = support::shipped();
    let options = Options { cancer_fraction, photometric: PhotometricChoice::Mixed, ..Options::default() };
    let exams = support::exams(seed, n, &options);
    std::thread::scope(|s| {
        let handles: Vec<_> = exams
            .chunks(exams.len().div_ceil(2).max(1))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|exam| {
                            let views = (0..exam.views.len())
                                .map(|i| {
                                    let (_, meta, pixels) = support::view(exam, i);
                                    ViewInput { source: format!("view {i}"), meta, pixels: Ok(pixels) }
                                })
                                .collect();
                            let r = scorer.score_exam(&exam.study_uid, views, 0.0);
                            assert!(r.complete, "{}: {:?}", exam.study_uid, r.reason);
                            (r.exam_score.expect("scored"), exam.cancer, r.category.expect("category"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("scoring thread")).collect()
    })
}

#[test]
fn sha256_matches_the_card() {
    let model = granska_model::Model::load(support::shipped_dir()).expect("loads: the sha256 in model.toml matches");
    let found = granska_model::contract::sha256_file(&model.onnx_path).expect("hashes");
    assert_eq!(found, model.card.identity.sha256);
    let size = std::fs::metadata(&model.onnx_path).expect("onnx exists").len();
    assert!(size <= 5 << 20, "model.onnx is {size} bytes, the limit is 5 MB");
    let card = std::fs::read_to_string(support::shipped_dir().join("MODEL_CARD.md")).expect("MODEL_CARD.md");
    assert!(card.contains("not for clinical use"), "the model card must say it is not for clinical use");
    assert!(model.card.identity.training_data.contains("ynthetic"), "training data must say synthetic");
}

#[test]
fn held_out_exam_auc_is_at_least_0_90() {
    let scored = score(9001, 120, 0.5);
    let auc = support::auc(&scored.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>());
    let cancers = scored.iter().filter(|s| s.1).count();
    println!("held-out phantoms: {} exams, {cancers} with a lesion, exam-level AUC {auc:.4}", scored.len());
    assert!(auc >= 0.90, "exam-level AUC {auc:.4} < 0.90");
}

#[test]
fn categories_are_roughly_uniform_on_normal_exams() {
    let scored = score(9002, 300, 0.0);
    let mut counts = [0usize; 10];
    for s in &scored {
        counts[usize::from(s.2) - 1] += 1;
    }
    let shares: Vec<f64> = counts.iter().map(|&c| c as f64 / scored.len() as f64).collect();
    println!("category shares on {} normal exams: {shares:.3?}", scored.len());
    for (i, share) in shares.iter().enumerate() {
        assert!((0.04..=0.20).contains(share), "category {} holds {:.1} % of normal exams", i + 1, share * 100.0);
    }
}
