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
            if !dialog.open() {
                if dialog.is_connected() {
                    // Fails only if the element is detached, which it is not.
                    let _ = dialog.show_modal();
                } else {
                    // Drawn by a suspense (a dialog loaded when first opened), the element
                    // is placed in the document only after this runs.
                    request_animation_frame(move || {
                        if !dialog.open() {
                            let _ = dialog.show_modal();
                        }
                    });
                }
            }
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
