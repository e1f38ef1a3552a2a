//! The tags that load the browser bundle. Leptos's `HydrationScripts` starts loading only once
//! the whole document is parsed (a deferred module script), so the WASM was compiled after
//! parsing rather than during it. Here an `async` module script starts at once: the bundle is
//! fetched and compiled while the rest of the page is parsed, and hydration starts when the
//! document is complete (hydrating needs every node and the data at the end of `<body>`).

use leptos::prelude::*;

/// Runs as soon as the parser reaches it (an async inline module script is not deferred).
const LOAD_THEN_HYDRATE: &str = r#"((js, wasm) => {
  const parsed = new Promise((done) => document.readyState === 'loading'
    ? document.addEventListener('DOMContentLoaded', done, { once: true }) : done());
  import(js).then((mod) => mod.default({ module_or_path: wasm }).then(() => parsed).then(() => mod.hydrate()));
})"#;

#[component]
pub fn BundleScripts(options: LeptosOptions) -> impl IntoView {
    // Leptos's component also provides the split bundle's manifest to the render (lazy pages
    // preload their chunk by it): built for that, its tags are not used. With hashed file
    // names (not Corral's setting) its tags are used as they are.
    let hashed = options.hash_files;
    let leptos_tags = HydrationScripts(HydrationScriptsProps {
        options: options.clone(),
        islands: false,
        islands_router: false,
        root: None,
        defer: false,
    });
    if hashed {
        return leptos_tags.into_any();
    }
    let pkg = format!("/{}", options.site_pkg_dir);
    let js = format!("{pkg}/{}.js", options.output_name);
    // The names cargo-leptos gives the files (a plain `cargo build` names the WASM `_bg`).
    let wasm = match option_env!("LEPTOS_OUTPUT_NAME") {
        Some(_) => format!("{pkg}/{}.wasm", options.output_name),
        None => format!("{pkg}/{}_bg.wasm", options.output_name),
    };
    let nonce = leptos::nonce::use_nonce();
    let script = format!("{LOAD_THEN_HYDRATE}({js:?}, {wasm:?});");
    view! {
        <link rel="modulepreload" href=js.clone()/>
        <link rel="preload" href=wasm.clone() r#as="fetch" r#type="application/wasm" crossorigin=""/>
        <script type="module" async nonce=nonce>{script}</script>
    }
    .into_any()
}
