//! Text-embedding throughput: the frozen language model (all-MiniLM-L6-v2 from
//! `scripts/install-text-model.sh`) on the 70 real TextEdge descriptions, one thread,
//! descriptions/s, with peak resident memory. Run through `benches/text.sh`.

use std::{path::PathBuf, time::Instant};

use mmhost_text::{sentence_embedding, TextConfig};

fn main() {
    let data = std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let mut texts = Vec::new();
    for name in [
        "textedge_prop_mp22_train.csv",
        "textedge_prop_mp22_valid.csv",
        "textedge_prop_mp22_test.csv",
    ] {
        let mut reader =
            csv::Reader::from_path(data.join("samples/text").join(name)).expect("descriptions");
        let column = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "description")
            .unwrap();
        texts.extend(reader.records().map(|r| r.unwrap()[column].to_string()));
    }
    let config = TextConfig::new();
    sentence_embedding(&config, &texts[0])
        .expect("model installed (scripts/install-text-model.sh)");
    let started = Instant::now();
    for text in &texts {
        sentence_embedding(&config, text).expect("embedding");
    }
    let seconds = started.elapsed().as_secs_f64();
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    println!(
        "text embedding: {} descriptions ({} words on average) in {seconds:.2} s = {:.1} descriptions/s",
        texts.len(),
        words / texts.len(),
        texts.len() as f64 / seconds
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!("peak memory: {}", line.trim_start_matches("VmHWM:").trim());
    }
}
