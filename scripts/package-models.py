#!/usr/bin/env python3
"""Copies the models trained by scripts/train-models.sh into models/, with a model
card each (MODEL.md for people, card.json for `mmhost models`).

Usage: scripts/package-models.py WORK_DIR [--data ../shared/data] [--mmhost BIN]
                                 [--hardware TEXT] [--wall-note PROPERTY=TEXT]...
                                 [--only pretrained|PROPERTY]... [--out models]

WORK_DIR holds what train-models.sh writes: import.json, data-info.txt, db.redb,
pretrained/ with pretrained.json, and ft-PROPERTY/ with ft-PROPERTY.json for each
property (a folder of symbolic links can gather them from several such runs).
--hardware names the machine in the cards, --wall-note adds words after one
fine-tuning's wall time (e.g. that it shared the cores; `PROPERTY/first=TEXT` after
its first stage's, `PROPERTY/second=TEXT` after its second's, …). --only packages
some of the models (repeatable); the others in --out stay as they are. Without `pretrained` the pretraining is not repackaged: its
card is read from --out, and WORK_DIR/pretrained needs only its config.toml and
run.json (a link to models/multimat-mp-pretrained will do).

A fine-tuning may start from a fine-tuned model of the same property (a later
stage with a new head), and that one from another: the card then gives every
stage's recipe, each earlier one read from the model.json of the folder the next
started from. A packaged model.json records every stage of its model (`lineage`),
so a fine-tuning that continues a model of models/ (`finetune --from
models/potnet-mp-band-gap`) is packaged with all its stages too.

Weights only (no optimizer state); the pretrained run keeps its latest checkpoint.
The property models' records and the cards cut paths of the training machine to
their file names; the pretrained run.json keeps its database's path as written
(`mmhost embed/retrieve --model` without --db look for it there).
The cards' figures come from the runs' own outputs: the fine-tunings' test metrics
(overall and per `source` column of mp/structures.csv.gz) and held-out retrieval of
the pretrained model on its test split, run here with `mmhost retrieve`.
"""
import argparse
import csv
import gzip
import hashlib
import json
import shutil
import statistics
import subprocess
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRETRAINED = "multimat-mp-pretrained"
PROPERTIES = {
    "formation_energy_per_atom": ("potnet-mp-formation-energy", "eV/atom"),
    "band_gap": ("potnet-mp-band-gap", "eV"),
}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def minutes(seconds):
    return f"{seconds / 60:.1f} min"


def loss_name(recipe):
    """The regression loss of a fine-tuning recipe (MSE before it was recorded)."""
    return {"mse": "mean squared error", "l1": "mean absolute error (L1)"}[recipe.get("loss", "mse")]


def floor_text(recipe):
    """The prediction floor of a recipe, in words ("" when none)."""
    floor = recipe.get("floor")
    return "" if floor is None else f", predictions below {floor:g} raised to it"


def split_text(splits):
    """Train/validation/test fractions in percent, e.g. "80/10/10"."""
    return "/".join(f"{100 * f:g}" for f in splits)


def per_source(predictions, sources, prop):
    rows = list(csv.DictReader(predictions.open()))
    groups = {}
    for row in rows:
        error = abs(float(row[f"predicted_{prop}"]) - float(row[prop]))
        groups.setdefault(sources.get(row["material_id"], "other"), []).append(error)
    return {s: (len(e), statistics.mean(e)) for s, e in sorted(groups.items())}


def encoder_sizes(config):
    """'crystal: preset reference, hidden_dim 128; dos: preset small; …' from a run's
    config.toml."""
    encoders = tomllib.loads(config.read_text())["encoders"]
    parts = []
    for modality, encoder in sorted(encoders.items()):
        keys = encoder.get("config", {})
        described = [f"preset {keys['preset']}"] if "preset" in keys else []
        described += [f"{k} {v}" for k, v in sorted(keys.items()) if k != "preset"]
        parts.append(f"{modality}: {', '.join(described) or 'defaults'}")
    return "; ".join(parts)


def pretraining_split(run):
    """(fractions, seed) of a pretraining run's split, from its config.toml."""
    train = tomllib.loads((run / "config.toml").read_text()).get("train", {})
    return train.get("splits", [0.7, 0.2, 0.1]), train.get("split_seed", 42)


def test_share(splits):
    """The test fraction of train/validation/test fractions."""
    return splits[2] / sum(splits)


def held_out(recipe):
    """What decides a fine-tuning's test materials: its split seed and test share
    (rounded, so that 0.8,0.1,0.1 and 0.9,0,0.1 agree)."""
    return recipe["split_seed"], round(test_share(recipe["splits"]), 9)


def refusals(import_report):
    """'37 of `charge_density.npy` (charge grid has no positive density …), 1 of `dos.npy` (…)' from
    `mmhost data import --json`: the records the importer refused, by reason."""
    counts = Counter((Path(report["path"]).name, rejected["reason"])
                     for report in import_report
                     for rejected in report["outcome"].get("rejected", []))
    return ", ".join(f"{n} of `{what}` ({reason})" for (what, reason), n in sorted(counts.items()))


def local_names(value):
    """A run record with every absolute path cut to its file name."""
    if isinstance(value, dict):
        return {k: local_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [local_names(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return Path(value).name
    return value


def property_origin(recipe):
    """The fine-tuned model a fine-tuning started from (`finetune --from` a folder
    that holds a model.json): (property, model name, its model.json, whether it is a
    packaged model: a folder of models/ with its card.json, whose records name its own
    start instead of giving its path); None when it started from a pretraining run
    (run.json) or from scratch."""
    if recipe.get("from") is None:
        return None
    origin = Path(recipe["from"])
    if (origin / "model.json").is_file():
        model = json.loads((origin / "model.json").read_text())
        packaged = (origin / "card.json").is_file()
        return model["property"], PROPERTIES[model["property"]][0], model, packaged
    if (origin / "run.json").is_file():
        return None
    raise SystemExit(f"{origin}: the fine-tuning started there, but it holds neither a "
                     "fine-tuned model (model.json) nor a pretraining run (run.json)")


ORDINALS = ["first", "second", "third", "fourth", "fifth"]


def stage_name(name, index):
    """A model's stage `index` (0 the first) as records and cards name it:
    `potnet-mp-formation-energy (second stage)`."""
    return f"{name} ({ORDINALS[index]} stage)"


def earlier_stages(recipe, prop):
    """The earlier stages of a fine-tuning of `prop`, oldest first: the outcomes (from
    their model.json) of the same-property models it started from in turn; and where the
    oldest started: another property's model (property_origin's tuple), None (the
    pretraining or scratch), or, when the chain continues a packaged model of `prop`, the
    start its `lineage` recorded (a dict: property, name, note). A packaged model's stages
    come from its lineage, each with the hardware and wall note its card gave."""
    stages = []
    origin = property_origin(recipe)
    while origin and origin[0] == prop:
        if origin[3]:
            lineage = origin[2].get("lineage")
            if lineage is None:
                raise SystemExit(f"{prop}: a stage started from the packaged {origin[1]}, "
                                 "which does not record its stages (`lineage` in model.json): "
                                 "package the runs of every stage instead")
            stages[:0] = lineage["stages"]
            origin = lineage["start"]
            break
        stages.insert(0, origin[2]["outcome"])
        origin = property_origin(origin[2]["outcome"]["recipe"])
    if len(stages) > len(ORDINALS):
        raise SystemExit(f"{prop}: more than {len(ORDINALS)} stages")
    return stages, origin


def start_record(origin, work, result):
    """Where a property model's first stage started, as its card and lineage record it:
    {property, name, note} for another property's model (note: start_note's sentence or
    None), None for the pretraining or scratch. `origin` is earlier_stages' start; one
    from a run is refused when it held out other test materials than `result`."""
    if origin is None or isinstance(origin, dict):
        return origin
    name = origin_name(origin)
    if held_out(origin[2]["outcome"]["recipe"]) != held_out(result["recipe"]):
        raise SystemExit(f"it started from `{name}`, which held out other test materials, so "
                         "it may have trained on this model's test materials")
    return {"property": origin[0], "name": name, "note": start_note(origin, work)}


def origin_name(origin):
    """Another property's fine-tuned model (property_origin's tuple) that a fine-tuning
    started from, as the cards name it: `potnet-mp-formation-energy` (also when it is
    the packaged model itself), or `potnet-mp-formation-energy (second stage)` when it is
    a later stage of that model."""
    prop, name, model, packaged = origin
    if packaged:
        return name
    earlier = len(earlier_stages(model["outcome"]["recipe"], prop)[0])
    return stage_name(name, earlier) if earlier else name


def start_note(start, work):
    """A sentence for a model that started from a validated stage of another property's
    model whose shipped chain continues from that stage's final fit instead (the same
    recipe on the training and validation materials together); else None (also for a
    packaged model: it is the shipped one)."""
    prop, name, model, packaged = start
    outcome = model["outcome"]
    if packaged or not validates(outcome["recipe"]):
        return None
    index = len(earlier_stages(outcome["recipe"], prop)[0])
    shipped = json.loads((work / f"ft-{prop}.json").read_text())
    chain = [*earlier_stages(shipped["recipe"], prop)[0], shipped]
    if index >= len(chain) or validates(chain[index]["recipe"]):
        return None
    return (f"That {ORDINALS[index]} stage is its run on split "
            f"{split_text(outcome['recipe']['splits'])} (best validation epoch "
            f"{outcome['best_epoch']}); the shipped `{name}` continues from the final fit of "
            "the same recipe.")


def final_fit_text(stages, result, validated):
    """The sentence naming the stages that trained on the training and validation
    materials together (no validation split), or None when every stage validated;
    `validated` is the chain's first stage with a validation split."""
    chain = [*stages, result]
    fits = [ORDINALS[i] for i, st in enumerate(chain) if not validates(st["recipe"])]
    if not fits:
        return None
    if len(fits) == len(chain):
        # no stage of the chain validated: its recipes were chosen by runs of their own
        subject = {1: "The model is a final fit", 2: "Both stages are final fits"}.get(
            len(chain), "Every stage is a final fit")
        return (f"{subject}: {'a recipe' if len(chain) == 1 else 'recipes'} chosen on "
                "validation beforehand by runs of their own (`models/README.md`), trained on "
                "the training and validation materials together.")
    m = validated["materials"]
    subject = (f"The {fits[0]} stage" if len(fits) == 1 else
               f"The {', '.join(fits[:-1])} and {fits[-1]} stages")
    what = ("a final fit of a recipe" if len(fits) == 1 else "final fits of recipes")
    return (f"{subject} trained on the training and validation materials together "
            f"({m['train'] + m['validation']}; split {split_text(result['recipe']['splits'])}, "
            f"the same test materials), {what} chosen on validation beforehand "
            "(`models/README.md`).")


def validates(recipe):
    """Whether a fine-tuning scored its epochs on a validation split (a validation
    fraction above 0): without one it trained on those materials too and kept its
    last epoch."""
    return recipe["splits"][1] > 0


def recipe_text(recipe, epochs_run, best_epoch, seconds, hardware, wall_note):
    """One fine-tuning stage's recipe in words: loss, optimizer, schedule, epochs, wall time."""
    kept = (f"best validation epoch {best_epoch}" if validates(recipe) else
            "on the training and validation materials together, the last kept")
    return (f"Loss: {loss_name(recipe)} on standardized labels{floor_text(recipe)}. "
            f"AdamW lr {recipe['lr']}, {recipe['schedule']} schedule with "
            f"{recipe['warmup_fraction']:.0%} warm-up, batch {recipe['batch_size']}, {epochs_run} "
            f"epochs, {kept}; encoder and head trained; {hardware}; "
            f"wall time {minutes(seconds)}{f' ({wall_note})' if wall_note else ''}.")


def stages_text(earlier):
    """The end of a property card's first sentence, for a model fine-tuned again from
    its own crystal encoder `earlier` times."""
    if earlier == 0:
        return "."
    if earlier == 1:
        return (", then fine-tuned again from that model's crystal encoder with a new linear "
                "head (a second stage, its own cosine schedule).")
    times = "twice" if earlier == 2 else f"{earlier} times"
    return (f", then fine-tuned again {times}, each from the previous stage's crystal "
            f"encoder with a new linear head ({earlier + 1} stages, each with its own cosine "
            f"schedule).")


def later_stage_heading(index):
    """'Second stage, from the first stage's crystal encoder with a new head.' for stage
    `index` (0 the first)."""
    return (f"{ORDINALS[index].capitalize()} stage, from the {ORDINALS[index - 1]} stage's "
            f"crystal encoder with a new head.")


def retrieval(mmhost, run, db, query):
    out = subprocess.run(
        [mmhost, "retrieve", "--model", str(run), "--db", str(db), "--query", query,
         "--target", "crystal", "--split", "test", "--json"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)["scores"]


def package_pretrained(work, out, mmhost, hardware, data_info):
    refused = refusals(json.loads((work / "import.json").read_text()))
    run = work / "pretrained"
    splits, split_seed = pretraining_split(run)
    info = json.loads((run / "run.json").read_text())
    epochs = [json.loads(line) for line in (work / "pretrained.json").read_text().splitlines()]
    last = epochs[-1]
    checkpoint = (run / "checkpoints" / "latest").read_text().strip()
    target = out / PRETRAINED
    shutil.rmtree(target, ignore_errors=True)
    (target / "checkpoints" / checkpoint).mkdir(parents=True)
    for name in ["config.toml", "run.json", "loss.png"]:
        shutil.copy(run / name, target / name)
    shutil.copy(run / "checkpoints" / "latest", target / "checkpoints" / "latest")
    weights = {}
    for f in sorted((run / "checkpoints" / checkpoint).iterdir()):
        if f.suffix in (".safetensors", ".json"):
            shutil.copy(f, target / "checkpoints" / checkpoint / f.name)
            if f.suffix == ".safetensors":
                weights[f"checkpoints/{checkpoint}/{f.name}"] = sha256(f)
    held_out = {q: retrieval(mmhost, target, work / "db.redb", q) for q in ["dos", "charge"]}
    parameters = sum(e["parameters"] for e in info["encoders"])
    card = {
        "name": PRETRAINED,
        "kind": "pretrained",
        "summary": "crystal, DOS, charge-density and text encoders aligned by all-pairs CLIP",
        "modalities": info["modalities"],
        "parameters": parameters,
        "plugins": [{"modality": e["modality"], "plugin": e["plugin"], "version": e["version"]}
                    for e in info["encoders"]],
        "weights_sha256": weights,
    }
    (target / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    seconds = json.loads((run / "checkpoints" / checkpoint / "host.json").read_text())["elapsed_s"]
    validation = last["validation"]["retrieval"]
    lines = [
        f"# {PRETRAINED}",
        "",
        "Multimodal pretraining in the manner of MultiMat: a PotNet crystal encoder, a DOS",
        "transformer, a charge-density ResNeXt and an MLP over frozen all-MiniLM-L6-v2",
        "sentence embeddings, aligned in one 128-d space by the all-pairs CLIP loss",
        "(τ = 0.2); a material's missing modalities are masked, each modality pair",
        "weighted by the rows of the batch that have both.",
        "",
        "## Data",
        "",
        "Every structure of `../shared/data/mp/structures.csv.gz` with a description",
        "generated by `mmhost data describe`, and the real DOS and charge densities of",
        f"`../shared/data/multimat`" + (f" (the importer refused {refused}):" if refused else ":"),
        "",
        "```",
        data_info.strip(),
        "```",
        "",
        f"Split {split_text(splits)} by material id with split seed {split_seed}: "
        f"{info['train_materials']} training, {info['validation_materials']} validation "
        f"materials.",
        "",
        "## Recipe",
        "",
        f"`scripts/train-models.sh` with `configs/models.toml` ({encoder_sizes(run / 'config.toml')}):",
        f"AdamW lr 1e-3, weight decay 0.05, warm-up 10 % then cosine decay, batch 64, {last['epochs']} epochs "
        f"({last['global_step']} steps); {hardware}.",
        "",
        "| encoder | plugin | version | parameters |",
        "|---|---|---|---|",
    ]
    lines += [f"| {e['modality']} | {e['plugin']} | {e['version']} | {e['parameters']:,} |"
              for e in info["encoders"]]
    lines += [
        "",
        f"Training loss {epochs[0]['train_loss']:.3f} (epoch 1) → {last['train_loss']:.3f} "
        f"(epoch {last['epoch']}), validation loss {last['validation']['loss']:.3f}.",
        "",
        "## Retrieval",
        "",
        "Held out (test split, materials never seen in pretraining), each query's own",
        "material ranked among the test materials that have the target modality:",
        "",
        "| query → target | queries | top-1 | top-5 | median rank | chance top-1 | chance median rank |",
        "|---|---|---|---|---|---|---|",
    ]
    for q, s in held_out.items():
        n = s["queries"]
        lines.append(f"| {q} → crystal | {n} | {s['top1']:.2f} | {s['top5']:.2f} | "
                     f"{s['median_rank']:.1f} | {1 / n:.2f} | {(n + 1) / 2:.1f} |")
    lines += [
        "",
        "Validation split (also held out of pretraining; all its materials with the target modality as candidates):",
        "",
        "| query → target | queries | top-1 | top-5 | median rank |",
        "|---|---|---|---|---|",
    ]
    for pair, s in sorted(validation.items()):
        lines.append(f"| {pair} | {s['queries']} | {s['top1']:.2f} | {s['top5']:.2f} | "
                     f"{s['median_rank']:.1f} |")
    lines += [
        "",
        "## Use",
        "",
        "The text encoder runs over all-MiniLM-L6-v2, which `scripts/install-text-model.sh`",
        "installs (not in this folder). `--db` names a dataset from `mmhost data import`.",
        "",
        "```",
        f"mmhost embed --model models/{PRETRAINED} --db DB --modality crystal --output z.npy",
        f"mmhost retrieve --model models/{PRETRAINED} --db DB --query text --target crystal "
        "--text \"a layered metal\"",
        f"mmhost discover --model models/{PRETRAINED} --db DB --target-dos FILE",
        "```",
        "",
        "## Weights (SHA-256)",
        "",
    ]
    lines += [f"- `{f}`: `{h}`" for f, h in weights.items()]
    lines.insert(lines.index("## Retrieval") - 1, f"Training time {minutes(seconds)}.")
    (target / "MODEL.md").write_text("\n".join(lines) + "\n")
    return card, held_out


def training_elements(mmhost, run, db, model):
    """Training materials per element of the fine-tuning in `run` (`mmhost data info
    --model`), checked against the number of training materials it reported."""
    out = subprocess.run([mmhost, "data", "info", "--db", str(db), "--model", str(run), "--json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{run}: `mmhost data info --model` failed: {out.stderr.strip()}")
    info = json.loads(out.stdout)
    trained = model["outcome"]["materials"]["train"]
    if info["training_materials"] != trained:
        raise SystemExit(f"{run}: {info['training_materials']} training materials in {db}, "
                         f"but the fine-tuning trained on {trained}")
    return info["elements"]


def stage_start(name, index, start):
    """What stage `index` (0 the first) of model `name` started from, as models/ names it:
    the stage before, or for the first the start (start_record's dict; None: the
    pretraining)."""
    return stage_name(name, index - 1) if index else (start["name"] if start else PRETRAINED)


def lineage(name, stages, outcome, start, machines, notes):
    """model.json's `lineage`, which lets a later packaging continue this model (`finetune
    --from models/NAME`) and still give every stage in its card: where the first stage
    started (start_record's dict, None for the pretraining) and the record of every stage,
    oldest first, this model's last, each with the hardware and wall note of its card
    (`machines`, `notes`) and its start named as in models/."""
    records = []
    for i, stage in enumerate([*stages, outcome]):
        record = local_names(stage)
        if i or record["recipe"].get("from") is not None:  # None: from scratch
            record["from"] = record["recipe"]["from"] = stage_start(name, i, start)
        records.append({**record, "hardware": machines[i], "wall_note": notes[i]})
    return {"start": start, "stages": records}


def elements_text(counts):
    """The card's sentence on the training materials' elements."""
    rarest = sorted(counts.items(), key=lambda item: (item[1], item[0]))[:3]
    listed = ", ".join(f"{symbol} ({n})" for symbol, n in rarest)
    return (f"The training materials contain {len(counts)} elements (`training_elements` in "
            f"model.json), the rarest {listed}; `mmhost predict` flags a structure with an "
            "element none of them contained.")


def package_property(work, out, mmhost, prop, sources, hardware, pretrained_card, wall_notes):
    name, unit = PROPERTIES[prop]
    run = work / f"ft-{prop}"
    result = json.loads((work / f"ft-{prop}.json").read_text())
    model = json.loads((run / "model.json").read_text())
    crystal = next(p for p in pretrained_card["plugins"] if p["modality"] == "crystal")
    # Models fine-tuned before model.json recorded the encoder's plugin version, or
    # their training materials' elements.
    model.setdefault("encoder", crystal)
    if "training_elements" not in model:
        model["training_elements"] = training_elements(mmhost, run, work / "db.redb", model)
    # read before the model's folder is replaced: a later stage may have started there.
    # Earlier stages of this same model are not shipped; their recipes go into the card.
    stages, origin = earlier_stages(result["recipe"], prop)
    start = start_record(origin, work, result)
    if any(held_out(stage["recipe"]) != held_out(result["recipe"]) for stage in stages):
        raise SystemExit(f"{run}: an earlier stage held out other test materials, so it may "
                         "have trained on this model's test materials")
    target = out / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for f in ["config.toml", "crystal.safetensors", "parity.png", "loss.png",
              "test_predictions.csv", "finetune.json"]:
        shutil.copy(run / f, target / f)
    model = local_names(model)
    recipe = local_names(result["recipe"])
    if stages or start:
        # named as in models/, in the recipe and in model.json's record of it
        named = stage_start(name, len(stages), start)
        recipe["from"] = model["outcome"]["from"] = model["outcome"]["recipe"]["from"] = named
    # each stage's hardware and wall note as its card gives them, this model's last
    machines = [stage.get("hardware", hardware) for stage in stages] + [hardware]
    notes = [wall_notes.get(f"{prop}/{ORDINALS[i]}", stage.get("wall_note", ""))
             for i, stage in enumerate(stages)] + [wall_notes.get(prop, "")]
    model["lineage"] = lineage(name, stages, model["outcome"], start, machines, notes)
    (target / "model.json").write_text(json.dumps(model, indent=2) + "\n")
    pretrained_splits, pretrained_seed = pretraining_split(work / "pretrained")
    same_test = (recipe["split_seed"] == pretrained_seed
                 and abs(test_share(recipe["splits"]) - test_share(pretrained_splits)) < 1e-9)
    same_test_text = " (the pretraining's test materials)" if same_test else ""
    (target / "finetune.json").write_text(json.dumps(recipe, indent=2) + "\n")
    head = len(model["head"]["weights"]) + 1
    crystal_params = next(
        e["parameters"] for e in json.loads((work / "pretrained" / "run.json").read_text())["encoders"]
        if e["modality"] == "crystal")
    weights = {"crystal.safetensors": sha256(target / "crystal.safetensors")}
    test, base = result["test"], result["baseline"]
    card = {
        "name": name,
        "kind": "property",
        "summary": f"{prop} ({unit}) from a crystal structure",
        "modalities": ["crystal"],
        "property": prop,
        "test_mae": test["mae"],
        "baseline_mae": base["mae"],
        "parameters": crystal_params + head,
        "plugins": [crystal],
        "weights_sha256": weights,
    }
    (target / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    groups = per_source(target / "test_predictions.csv", sources, prop)
    # The split as the validated stages had it; a last stage without a validation
    # split trained on their training and validation materials together.
    validated = next((st for st in [*stages, result] if validates(st["recipe"])), result)
    m = validated["materials"]
    final_fit = [text for text in [final_fit_text(stages, result, validated)] if text]
    start_notes = [text for text in [start and start["note"]] if text]
    lines = [
        f"# {name}",
        "",
        f"{prop} ({unit}) of a crystal: the PotNet crystal encoder of `{PRETRAINED}`",
        "fine-tuned with a linear head (`mmhost finetune --from`)" +
        (f" on {start['property']} (`{start['name']}`), then on {prop} with a new linear head" if start else "") +
        stages_text(len(stages)),
        *start_notes,
        "",
        "## Data",
        "",
        f"`../shared/data/mp/structures.csv.gz`, the materials with a `{prop}` label, split",
        f"{split_text(validated['recipe']['splits'])} by material id with split seed "
        f"{recipe['split_seed']}{same_test_text}: "
        f"{m['train']} training, "
        f"{str(m['validation']) + ' validation (early stopping), ' if m['validation'] else ''}"
        f"{m['test']} test materials.",
        *final_fit,
        elements_text(model["training_elements"]),
        "",
        "## Recipe",
        "",
    ]
    for i, stage in enumerate(stages):
        text = recipe_text(stage["recipe"], stage["epochs_run"], stage["best_epoch"],
                           stage["seconds"], machines[i], notes[i])
        lines += ([f"First stage, from `{stage_start(name, 0, start)}`. " + text] if i == 0
                  else [later_stage_heading(i), text]) + [""]
    if stages:
        lines.append(later_stage_heading(len(stages)))
    lines += [
        recipe_text(recipe, result["epochs_run"], result["best_epoch"], result["seconds"],
                    machines[-1], notes[-1]),
        f"Parameters: {card['parameters']:,} (crystal encoder {crystal_params:,}, head {head}).",
        f"Plugin: {crystal['plugin']} {crystal['version']}.",
        "",
        "## Test metrics",
        "",
        f"| materials | MAE ({unit}) | RMSE | R² | training-mean predictor MAE |",
        "|---|---|---|---|---|",
        f"| {test['count']} | {test['mae']:.3f} | {test['rmse']:.3f} | {test['r2']:.3f} | "
        f"{base['mae']:.3f} |",
        "",
        "By `source` column (`mpts_52` is a later time split, harder):",
        "",
        f"| source | test materials | MAE ({unit}) |",
        "|---|---|---|",
    ]
    lines += [f"| {s} | {n} | {e:.3f} |" for s, (n, e) in groups.items()]
    lines += [
        "",
        "`parity.png` plots predicted against true values on the test split,",
        "`test_predictions.csv` lists them, `loss.png` shows training" +
        (" and validation." if validates(recipe) else " (this stage had no validation split)."),
        "",
        "## Use",
        "",
        "```",
        f"mmhost predict --model models/{name} --input structure.cif --output predictions.csv",
        "```",
        "",
        "## Weights (SHA-256)",
        "",
        f"- `crystal.safetensors`: `{weights['crystal.safetensors']}`",
    ]
    (target / "MODEL.md").write_text("\n".join(lines) + "\n")
    return card, groups


def property_note(text):
    """`PROPERTY=TEXT` (the shipped stage's) or `PROPERTY/STAGE=TEXT` (an earlier stage's:
    first, second, …) of --wall-note, as a pair."""
    key, sep, note = text.partition("=")
    prop, _, stage = key.partition("/")
    if not sep or prop not in PROPERTIES or key != prop and stage not in ORDINALS:
        raise argparse.ArgumentTypeError(
            f"'{text}': expected PROPERTY=TEXT or PROPERTY/STAGE=TEXT with PROPERTY one of "
            f"{', '.join(PROPERTIES)} and STAGE an earlier stage ({', '.join(ORDINALS[:-1])})")
    return key, note


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--mmhost", default=str(REPO / "target" / "release" / "mmhost"))
    parser.add_argument("--hardware", default="2 CPU cores")
    parser.add_argument("--wall-note", action="append", default=[], metavar="PROPERTY=TEXT",
                        type=property_note,
                        help="words after a fine-tuning's wall time (e.g. shared cores); "
                             "PROPERTY/first=TEXT for its first stage, /second for its second, …")
    parser.add_argument("--only", action="append", choices=["pretrained", *PROPERTIES],
                        help="package this model only (repeatable); the others stay as they are")
    parser.add_argument("--out", type=Path, default=REPO / "models")
    args = parser.parse_args()
    only = set(args.only or ["pretrained", *PROPERTIES])
    wall_notes = dict(args.wall_note)
    sources = {row["material_id"]: row["source"] for row in
               csv.DictReader(gzip.open(args.data / "mp" / "structures.csv.gz", "rt"))}
    args.out.mkdir(exist_ok=True)
    if "pretrained" in only:
        # its first line names the database by its path on the training machine
        info_lines = (args.work / "data-info.txt").read_text().splitlines()
        db, sep, rest = info_lines[0].partition(": ")
        data_info = "\n".join([f"{Path(db).name}{sep}{rest}"] + info_lines[1:])
        card, held_out = package_pretrained(args.work, args.out, args.mmhost, args.hardware,
                                            data_info)
        print(f"{PRETRAINED}: held-out retrieval {json.dumps(held_out)}")
    else:
        card = json.loads((args.out / PRETRAINED / "card.json").read_text())
    for prop in [p for p in PROPERTIES if p in only]:
        prop_card, groups = package_property(args.work, args.out, args.mmhost, prop, sources,
                                             args.hardware, card, wall_notes)
        print(f"{prop_card['name']}: test MAE {prop_card['test_mae']:.4f} "
              f"(mean predictor {prop_card['baseline_mae']:.4f}); per source {groups}")


if __name__ == "__main__":
    main()
