//! A plugin that panics or returns NaN is reported as an error naming the plugin and
//! the operation; the host and the plugin's other state stay usable.

use mmhost::plugins::PluginLibrary;
use mmhost_plugin_api::{Array, ErrorKind, Record};
use mmhost_tests::{built_library, real_dos_records};

fn batch(fault: Option<u8>) -> Vec<Record> {
    (0..3)
        .map(|i| {
            let mut r = Record::single("x", Array::from_f32(&[4], &[i as f32, 1.0, -1.0, 0.5]));
            if let Some(f) = fault {
                r.push("fault", Array::from_u8(&[1], &[f]));
            }
            r
        })
        .collect()
}

#[test]
fn a_panic_in_forward_becomes_an_error_and_the_host_carries_on() {
    let faulty = PluginLibrary::load(&built_library("faulty_plugin")).unwrap();
    let mut encoder = faulty.encoder("threads = 1").unwrap();

    let err = encoder.forward(&batch(Some(b'p')), true).unwrap_err();
    assert_eq!(err.plugin, "faulty");
    assert_eq!(err.operation, "forward");
    assert_eq!(err.error.kind, ErrorKind::Panic);
    assert!(
        err.to_string().contains("deliberate panic in forward"),
        "{err}"
    );

    // The same instance still works, and so do other plugins in this process.
    let z = encoder.forward(&batch(None), true).unwrap();
    assert_eq!((z.rows, z.dim), (3, 8));
    let dos = PluginLibrary::load(&built_library("mmhost_dos")).unwrap();
    let featurizer = dos.featurizer("preset = \"small\"").unwrap();
    let mut dos_encoder = dos.encoder("preset = \"small\"\nthreads = 1").unwrap();
    let records: Vec<Record> = real_dos_records(2)
        .iter()
        .map(|r| featurizer.featurize(r).unwrap())
        .collect();
    assert_eq!(dos_encoder.embed(&records).unwrap().rows, 2);
}

#[test]
fn nan_embeddings_are_reported_with_the_row() {
    let faulty = PluginLibrary::load(&built_library("faulty_plugin")).unwrap();
    let mut encoder = faulty.encoder("threads = 1").unwrap();
    let err = encoder.embed(&batch(Some(b'n'))).unwrap_err();
    assert_eq!(err.error.kind, ErrorKind::NonFinite);
    let name = faulty.description().name.clone();
    let message = err.to_string();
    assert!(message.contains("row 0"), "{message}");
    assert!(
        message.contains(&format!("plugin '{name}' failed in embed")),
        "{message}"
    );
}

#[test]
fn bad_input_and_misuse_are_errors_not_crashes() {
    let dos = PluginLibrary::load(&built_library("mmhost_dos")).unwrap();
    let mut encoder = dos.encoder("preset = \"small\"\nthreads = 1").unwrap();

    // Raw (unfeaturized) records of the wrong shape.
    let wrong = vec![Record::single("dos", Array::from_f32(&[2, 10], &[0.0; 20]))];
    let err = encoder.forward(&wrong, true).unwrap_err();
    assert_eq!(err.error.kind, ErrorKind::InvalidInput);

    // backward and step out of order.
    let z = mmhost_plugin_api::Embeddings::new(1, 128, vec![0.0; 128]);
    assert_eq!(
        encoder.backward(&z).unwrap_err().error.kind,
        ErrorKind::Unsupported
    );

    // Configuration mistakes name the key.
    let err = dos.encoder("dept = 3").err().unwrap();
    assert_eq!(err.error.kind, ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("unknown key 'dept'"), "{err}");
    for known in ["depth", "heads", "preset", "threads"] {
        assert!(err.to_string().contains(&format!("\"{known}\"")), "{err}");
    }
    let err = dos.encoder("preset = \"huge\"").err().unwrap();
    assert!(err.to_string().contains("unknown preset 'huge'"), "{err}");
    let err = dos.encoder("device = \"tpu\"").err().unwrap();
    assert!(err.to_string().contains("device 'tpu'"), "{err}");
    // The workspace builds the plugins for the CPU: CUDA is refused, saying why.
    let err = dos.encoder("device = \"cuda:0\"").err().unwrap();
    assert_eq!(err.error.kind, ErrorKind::Unsupported);
    assert!(
        err.to_string().contains(
            "device 'cuda:0' asked for, but plugin 'dos' was built without the `cuda` feature"
        ),
        "{err}"
    );

    // Corrupt weights are refused and the model is unchanged.
    let featurizer = dos.featurizer("preset = \"small\"").unwrap();
    let records = vec![featurizer.featurize(&real_dos_records(1)[0]).unwrap()];
    let before = encoder.embed(&records).unwrap();
    let err = encoder.load_weights(b"not safetensors").unwrap_err();
    assert_eq!(err.error.kind, ErrorKind::InvalidInput, "{err}");
    assert!(
        encoder.embed(&records).unwrap() == before,
        "weights changed"
    );
    // Weights of a deeper model do not fit: the keys it lacks are named.
    let deeper = dos
        .encoder("preset = \"small\"\nthreads = 1\ndepth = 2")
        .unwrap();
    let err = encoder
        .load_weights(&deeper.save_weights().unwrap())
        .unwrap_err();
    assert_eq!(err.error.kind, ErrorKind::InvalidInput, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("weights do not fit this model"),
        "{message}"
    );
    assert!(message.contains("blocks.1"), "{message}");
    assert!(
        encoder.embed(&records).unwrap() == before,
        "weights changed"
    );
}

/// Sizes that would divide by zero or allocate without bound are refused before
/// anything is built, naming the key and the range: a configuration file cannot make
/// a plugin abort.
#[test]
fn sizes_past_a_plugin_s_limits_are_refused_by_name() {
    let cases = [
        (
            "mmhost_crystal_potnet",
            "hidden_dim = 100000000",
            "hidden_dim = 100000000",
        ),
        (
            "mmhost_crystal_potnet",
            "cutoff = 1e9",
            "cutoff = 1000000000",
        ),
        (
            "mmhost_crystal_cgcnn",
            "gaussian_step = 0.0",
            "gaussian_step = 0",
        ),
        (
            "mmhost_crystal_cgcnn",
            "max_neighbors = 1000000000",
            "max_neighbors",
        ),
        ("mmhost_dos", "points = 0", "points = 0"),
        ("mmhost_dos", "heads = 0", "heads = 0"),
        (
            "mmhost_charge",
            "layers = [1, 1]",
            "must name the same number of stages",
        ),
        (
            "mmhost_charge",
            "cardinality = 5\nplanes = [40, 80, 160, 320]",
            "cardinality 5 does not divide the 6 channels",
        ),
        ("mmhost_charge", "grid = 100000", "grid = 100000"),
        ("mmhost_text", "max_tokens = 0", "max_tokens = 0"),
        ("mmhost_xrd", "points = 10000000000", "points = 10000000000"),
    ];
    for (library, config, expected) in cases {
        let plugin = PluginLibrary::load(&built_library(library)).unwrap();
        let err = plugin.encoder(config).err().unwrap();
        assert_eq!(err.error.kind, ErrorKind::InvalidConfig, "{library}: {err}");
        assert!(err.to_string().contains(expected), "{library}: {err}");
        let err = plugin.featurizer(config).err().unwrap();
        assert!(err.to_string().contains(expected), "{library}: {err}");
    }
}
