//! Text-embedding throughput of the frozen language model (all-MiniLM-L6-v2 from
//! `scripts/install-text-model.sh`) on the 70 real TextEdge descriptions, one at a
//! time, on `MMHOST_BENCH_THREADS` threads (`benches/text.sh`: 1), then sentence-transformers
//! (`benches/torch/text.py`) on the same descriptions and model folder in the same
//! invocation: descriptions/s, peak memory, ratio. Run through `benches/text.sh`.

use std::time::Instant;

use mmhost_bench_support::{
    data_dir, exchange_dir, peak_memory_mb, report, reset_peak_memory, run_torch, threads, Timing,
};
use mmhost_text::{model_dir, sentence_embedding, TextConfig};

fn main() {
    let mut texts = Vec::new();
    for name in [
        "textedge_prop_mp22_train.csv",
        "textedge_prop_mp22_valid.csv",
        "textedge_prop_mp22_test.csv",
    ] {
        let path = data_dir().join("samples/text").join(name);
        let mut reader =
            csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let column = reader
            .headers()
            .expect("CSV header")
            .iter()
            .position(|h| h == "description")
            .expect("a description column");
        texts.extend(
            reader
                .records()
                .map(|r| r.expect("CSV row")[column].to_string()),
        );
    }
    let threads = threads();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("rayon pool");
    let config = TextConfig::new();
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    println!(
        "text embedding, {threads} thread(s): {} descriptions, {} words on average, at most {} tokens each",
        texts.len(),
        words / texts.len(),
        config.max_tokens
    );
    sentence_embedding(&config, &texts[0])
        .expect("model installed (scripts/install-text-model.sh)");
    reset_peak_memory();
    let started = Instant::now();
    for text in &texts {
        sentence_embedding(&config, text).expect("embedding");
    }
    let mmhost = Timing {
        seconds: started.elapsed().as_secs_f64() / texts.len() as f64,
        peak_mb: peak_memory_mb(),
    };
    let dir = exchange_dir("text");
    std::fs::write(
        dir.join("texts.json"),
        serde_json::to_string(&texts).expect("descriptions as JSON"),
    )
    .expect("writing texts.json");
    let model = model_dir(&config);
    let torch = run_torch("text.py", &dir, &["--model", &model.to_string_lossy()]);
    report("description", 1, "descriptions", mmhost, torch);
}
