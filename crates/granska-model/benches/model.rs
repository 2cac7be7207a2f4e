//! Criterion benches of a detector-sized (2294 × 1914) view: preprocessing to the shipped
//! model's input, and inference of one view and of a batch of 8 on CPU.
//!
//!     cargo bench -p granska-model --bench model

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use granska_dicom::{DicomFile, Profile};
use granska_model::preprocess::preprocess;
use granska_model::{Engine, EngineConfig, Model};
use granska_phantom::{Options, Size};

fn bench(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = Model::load(root.join(granska_model::SHIPPED_MODEL)).expect("shipped model");
    let card = &model.card;
    let exam = granska_phantom::generate_exam(1, 0, &Options { size: Size::Full, ..Options::default() });
    let mut bytes = Vec::new();
    granska_phantom::to_dicom(&exam, 3).write_all(&mut bytes).expect("writes");
    let file = DicomFile::from_bytes(&bytes, "full R-MLO").expect("parses");
    let meta = file.mammogram(Profile::Strict).expect("valid");
    let pixels = file.pixels().expect("decodes");
    let (h, w) = (card.input.height(), card.input.width());

    c.bench_function("preprocess full-size view", |b| {
        b.iter(|| preprocess(black_box(&meta), black_box(&pixels), &card.preprocess, h, w).expect("preprocesses"))
    });
    let tensor = preprocess(&meta, &pixels, &card.preprocess, h, w).expect("preprocesses").tensor;
    let engine = Engine::start(&model, &EngineConfig::default()).expect("engine");
    c.bench_function("infer 1 view", |b| b.iter(|| engine.infer(vec![tensor.clone()]).expect("infers")));
    c.bench_function("infer batch of 8 views", |b| b.iter(|| engine.infer(vec![tensor.clone(); 8]).expect("infers")));
}

criterion_group!(benches, bench);
criterion_main!(benches);
