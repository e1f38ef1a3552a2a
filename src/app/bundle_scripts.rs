//! The tags that load the browser bundle. Leptos's `HydrationScripts` starts loading only once
//! the whole document is parsed (a deferred module script), so the WASM was compiled after
//! parsing rather than during it. Here an `async` module script starts at once: the WASM is
//! compiled while its JS glue (and, in a split build, the chunk loader that glue imports) load,
//! and hydration starts when the document is parsed (hydrating needs every node and the data
//! at the end of `<body>`).

use leptos::prelude::*;

/// Runs as soon as the parser reaches it (an async inline module script is not deferred). A
/// Chromium trace showed the compile starting only once the glue, and then the chunk loader it
/// imports, had been fetched and evaluated, long after the WASM itself had arrived; compiling
/// from the start overlaps them (hydrated ~5 ms sooner in a same-build A/B of 15 loads each).
/// Should the compile fail (a server that does not say `application/wasm`), the glue
/// instantiates the fetched file itself, as it did before.
const LOAD_THEN_HYDRATE: &str = r#"((js, wasm) => {
  const parsed = new Promise((done) => document.readyState === 'loading'
    ? document.addEventListener('DOMContentLoaded', done, { once: true }) : done());
  const compiled = WebAssembly.compileStreaming(fetch(wasm)).catch(() => fetch(wasm));
  import(js).then((mod) => mod.default({ module_or_path: compiled }).then(() => parsed).then(() => mod.hydrate()));
})"#;

/// The chunk loader of a split build (`cargo leptos build --split`), a fixed name without
/// hashed file names; the glue imports it, so it was fetched only once the glue had been.
const SPLIT_LOADER: &str = "__wasm_split.______________________.js";

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
    let split_loader = split_loader_exists(&options).then(|| {
        view! { <link rel="modulepreload" href=format!("{pkg}/{SPLIT_LOADER}")/> }
    });
    let nonce = leptos::nonce::use_nonce();
    let script = format!("{LOAD_THEN_HYDRATE}({js:?}, {wasm:?});");
    view! {
        <link rel="modulepreload" href=js.clone()/>
        {split_loader}
        <link rel="preload" href=wasm.clone() r#as="fetch" r#type="application/wasm" crossorigin=""/>
        <script type="module" async nonce=nonce>{script}</script>
    }
    .into_any()
}

/// Whether the site holds a split build's chunk loader (looked up once: the site does not
/// change while Corral runs). A build without `--split` has none, and a preload of it would
/// only be a 404.
fn split_loader_exists(options: &LeptosOptions) -> bool {
    #[cfg(feature = "ssr")]
    {
        static EXISTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *EXISTS.get_or_init(|| {
            std::path::Path::new(options.site_root.as_ref())
                .join(options.site_pkg_dir.as_ref())
                .join(SPLIT_LOADER)
                .is_file()
        })
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = options;
        false
    }
}
