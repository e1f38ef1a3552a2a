//! A button that opens a menu (`role=menu`). Keyboard: arrows, Home and End move between the
//! items, Escape closes and returns focus to the button, Tab or a press elsewhere closes.
//!
//! A closed menu is only its button: the list, its effects and its window listener are made
//! when it opens and dropped when it closes (a table draws one menu per row, and the first
//! screen's render and hydration pay for each reactive node a row owns).

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The menu's items are its children (`role="menuitem" tabindex="-1"`); an item closes the
/// menu by setting `open` to false.
#[component]
pub fn Menu(
    /// The button's and the menu's accessible name.
    #[prop(into)]
    label: String,
    /// The menu element's id, unique on the page.
    #[prop(into)]
    id: String,
    open: RwSignal<bool>,
    children: ChildrenFn,
) -> impl IntoView {
    let (menu_label, controls) = (label.clone(), id.clone());
    let list = move || {
        open.get().then(|| {
            view! { <MenuList label=menu_label.clone() id=id.clone() open children=children.clone()/> }
        })
    };
    view! {
        <div class="menu-anchor">
            <button class="icon-button" aria-label=label aria-haspopup="menu" aria-controls=controls
                aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|o| *o = !*o)>
                "⋯"
            </button>
            {list}
        </div>
    }
}

/// The open menu: focuses its first item, moves focus with the keyboard, and closes on a
/// press outside its anchor.
#[component]
fn MenuList(
    label: String,
    id: String,
    open: RwSignal<bool>,
    children: ChildrenFn,
) -> impl IntoView {
    let menu_ref = NodeRef::<html::Div>::new();
    // Focus the first item once the list is in the document.
    Effect::new(move |_| {
        if let Some(menu) = menu_ref.get() {
            focus_item(&menu, 0);
        }
    });
    let close_and_refocus = move || {
        open.set(false);
        // The button is the list's sibling in the anchor.
        if let Some(button) = menu_ref
            .get_untracked()
            .and_then(|menu| menu.previous_element_sibling())
            .and_then(|button| button.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = button.focus();
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let Some(menu) = menu_ref.get() else { return };
        match ev.key().as_str() {
            "Escape" => {
                ev.prevent_default();
                close_and_refocus();
            }
            "ArrowDown" | "ArrowUp" | "Home" | "End" => {
                ev.prevent_default();
                let items = menu_items(&menu);
                let count = items.len() as i32;
                let current = items.iter().position(is_focused).map_or(-1, |i| i as i32);
                let next = match ev.key().as_str() {
                    "ArrowDown" => (current + 1).rem_euclid(count),
                    "ArrowUp" => (current - 1).rem_euclid(count),
                    "Home" => 0,
                    _ => count - 1,
                };
                focus_item(&menu, next as u32);
            }
            "Tab" => open.set(false),
            _ => {}
        }
    };
    // A press outside the anchor (button and list) closes the menu. The listener goes with the
    // list. (Not `focusout`: that also fires while the page is torn down.)
    let outside = window_event_listener(leptos::ev::pointerdown, move |ev| {
        let target = ev.target().and_then(|t| t.dyn_into::<web_sys::Node>().ok());
        let inside = menu_ref
            .get_untracked()
            .and_then(|menu| menu.parent_element())
            .zip(target)
            .is_some_and(|(anchor, t)| anchor.contains(Some(&t)));
        if !inside {
            open.set(false);
        }
    });
    on_cleanup(move || outside.remove());
    view! {
        <div node_ref=menu_ref id=id class="menu" role="menu" aria-label=label on:keydown=on_keydown>
            {children()}
        </div>
    }
}

fn menu_items(menu: &web_sys::HtmlDivElement) -> Vec<web_sys::HtmlElement> {
    let Ok(list) = menu.query_selector_all("[role=menuitem]") else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|node| node.dyn_into::<web_sys::HtmlElement>().ok())
        .collect()
}

fn focus_item(menu: &web_sys::HtmlDivElement, index: u32) {
    if let Some(item) = menu_items(menu).get(index as usize) {
        let _ = item.focus();
    }
}

fn is_focused(item: &web_sys::HtmlElement) -> bool {
    item.owner_document()
        .and_then(|doc| doc.active_element())
        .is_some_and(|active| active.is_same_node(Some(item)))
}
