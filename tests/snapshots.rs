//! Every `examples/*.toml` is a snapshot case: the templates `rotgen build` writes for it,
//! checked into `snapshots/`.

mod common;

use common::{build_to, scratch};

#[test]
fn examples() {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::glob!("../examples", "*.toml", |spec| {
            let name = spec.file_stem().unwrap().to_str().unwrap();
            let dir = scratch(&format!("snap-{name}"));
            let mut doc = String::new();
            for file in build_to(spec, &dir, "template") {
                let text = std::fs::read_to_string(&file).unwrap();
                if !doc.is_empty() {
                    doc.push('\n');
                }
                doc.push_str(&format!("# ---- {} ----\n", file.file_name().unwrap().to_str().unwrap()));
                doc.push_str(&text);
            }
            insta::assert_snapshot!(doc);
            std::fs::remove_dir_all(&dir).unwrap();
        });
    });
}
