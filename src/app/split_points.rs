//! Split points: code the release bundle keeps in chunks of its own, fetched when first needed,
//! and every other browser build keeps in its one bundle.
//!
//! Leptos's `#[lazy]` turns a function into a call into a chunk that only wasm-split
//! (`cargo leptos build --split`) produces; a browser build that skips that step cannot even load
//! ("Failed to resolve module specifier __wasm_split_placeholder__"). The release build
//! (`build_release` in scripts/lib.sh) splits and sets `--cfg split_bundle` for the browser
//! build; without it (`cargo leptos watch`, `cargo leptos build`) these are ordinary async
//! functions. The server keeps `#[lazy]` always: there it only names the chunk a page preloads,
//! when the site has one.
//!
//! Code only a split-off page reaches must not create wasm-bindgen closures (`Closure`) or call
//! js-sys imports new to the bundle that are generic (`Array::of1`, `Blob::text`'s promise):
//! their describe shims move into the chunk and wasm-bindgen leaves placeholder imports in the
//! main module, which then cannot load (no page hydrates). Put such calls in the app's root,
//! or reuse `browser_fetch`.

/// A function returning a view, split off in the release bundle. Callers await it either way.
macro_rules! split_view {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> AnyView $body:block) => {
        $(#[$meta])*
        #[cfg(any(split_bundle, not(feature = "hydrate")))]
        #[::leptos::lazy]
        $vis fn $name($($arg: $ty),*) -> ::leptos::prelude::AnyView $body

        $(#[$meta])*
        #[cfg(all(feature = "hydrate", not(split_bundle)))]
        $vis async fn $name($($arg: $ty),*) -> ::leptos::prelude::AnyView $body
    };
}

/// A route whose page is split off in the release bundle: `split_route!(Route => Page)` defines
/// `Route` for `Lazy::<Route>`. Each page fetches its own data, so `data()` starts nothing.
macro_rules! split_route {
    ($route:ident => $page:path) => {
        pub struct $route;

        #[cfg(any(split_bundle, not(feature = "hydrate")))]
        #[::leptos_router::lazy_route]
        impl ::leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(this: Self) -> ::leptos::prelude::AnyView {
                let $route = this;
                ::leptos::prelude::IntoAny::into_any(::leptos::prelude::view! { <$page/> })
            }
        }

        #[cfg(all(feature = "hydrate", not(split_bundle)))]
        impl ::leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            async fn view(this: Self) -> ::leptos::prelude::AnyView {
                let $route = this;
                ::leptos::prelude::IntoAny::into_any(::leptos::prelude::view! { <$page/> })
            }
        }
    };
}

pub(crate) use split_route;
pub(crate) use split_view;
