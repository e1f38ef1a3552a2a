//! A modal dialog on the native `<dialog>` element: focus trapping, Escape to close and the
//! backdrop come from the browser.

use leptos::html;
use leptos::prelude::*;

#[component]
pub fn Modal(
    /// Open while true.
    #[prop(into)]
    open: Signal<bool>,
    /// Called when the dialog closes by itself (Escape) or is closed.
    on_close: Callback<()>,
    #[prop(into)] title: Signal<String>,
    /// Element id of the title, unique on the page.
    id: &'static str,
    children: Children,
) -> impl IntoView {
    let dialog_ref = NodeRef::<html::Dialog>::new();
    Effect::new(move |_| {
        let Some(dialog) = dialog_ref.get() else {
            return;
        };
        if open.get() {
            show_modal(&dialog);
            // Drawn by a suspense, the element is placed in the document, or moved there (a
            // modal dialog moved stops being modal), only after this runs: it is kept modal
            // for the next frames while it is meant to be open.
            keep_modal(dialog, open, KEEP_MODAL_FRAMES);
        } else if dialog.open() {
            dialog.close();
        }
    });
    let title_id = format!("{id}-title");
    let labelled_by = title_id.clone();
    view! {
        <dialog
            node_ref=dialog_ref
            class="modal"
            aria-labelledby=labelled_by
            on:close=move |_| on_close.run(())
        >
            <h2 id=title_id>{move || title.get()}</h2>
            {children()}
        </dialog>
    }
}

/// Frames after opening in which a dialog moved by its suspense is made modal again.
const KEEP_MODAL_FRAMES: u32 = 30;

fn keep_modal(dialog: web_sys::HtmlDialogElement, open: Signal<bool>, frames: u32) {
    request_animation_frame(move || {
        if !open.get_untracked() {
            return;
        }
        show_modal(&dialog);
        if frames > 1 {
            keep_modal(dialog, open, frames - 1);
        }
    });
}

fn is_modal(dialog: &web_sys::HtmlDialogElement) -> bool {
    dialog.matches(":modal").unwrap_or(false)
}

/// Shows `dialog` as a modal unless it is one. A dialog left open but not modal (it was moved
/// in the document) loses its `open` attribute first: `close()` would fire `close`, and the
/// caller would hear the dialog was dismissed.
fn show_modal(dialog: &web_sys::HtmlDialogElement) {
    if !dialog.is_connected() || is_modal(dialog) {
        return;
    }
    if dialog.open() {
        let _ = dialog.remove_attribute("open");
    }
    // Fails only if the element is detached, which it is not.
    let _ = dialog.show_modal();
}
