//! The "⋯" menu of a row: run commands the status permits, Logs, Edit, Duplicate, Delete.

use leptos::prelude::*;

use crate::app::models::state::ModelsPageState;
use crate::app::widgets::menu::Menu;
use crate::app::widgets::run_button::run_command;
use crate::domain::{Model, Request};

#[component]
pub fn ActionsMenu(model: Model, state: ModelsPageState) -> impl IntoView {
    let open = RwSignal::new(false);
    let id = model.id;
    let name = model.spec.name.clone();
    let status = model.status;
    let label = format!("Actions for {name}");
    // Drawn only while the menu is open, so a closed row pays for none of this.
    let items = move || {
        let toasts = state.toasts;
        let run_item = |command: Request| {
            let name = name.clone();
            status.permits(command).then(|| {
                view! {
                    <button role="menuitem" tabindex="-1" on:click=move |_| {
                        open.set(false);
                        run_command(toasts, command, vec![id], name.clone());
                    }>{command.label()}</button>
                }
            })
        };
        let duplicate = {
            let model = model.clone();
            move |_| {
                open.set(false);
                state.duplicating.set(Some(model.clone()));
            }
        };
        let delete = {
            let model = model.clone();
            move |_| {
                open.set(false);
                state.deleting.set(vec![model.clone()]);
            }
        };
        view! {
            {run_item(Request::Start)}
            {run_item(Request::Stop)}
            {run_item(Request::Restart)}
            {run_item(Request::ForceStop)}
            <a role="menuitem" tabindex="-1" href=format!("/models/{id}#logs")>"Logs"</a>
            <a role="menuitem" tabindex="-1" href=format!("/models/{id}")>"Edit"</a>
            <button role="menuitem" tabindex="-1" on:click=duplicate>"Duplicate"</button>
            <button role="menuitem" tabindex="-1" class="danger" on:click=delete>"Delete"</button>
        }
    };
    view! {
        <Menu label id=format!("actions-menu-{id}") open>
            {items.clone()}
        </Menu>
    }
}
