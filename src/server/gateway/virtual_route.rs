//! A request for a virtual model: its targets as they are now (registered? ready, loading, how
//! many requests each holds), read from their owners, and the pick (`VirtualModel::pick`, a
//! pure function in `domain`) over them. The model lists show the same pick as "would use".

use crate::domain::AppError;
use crate::domain::api_key::ApiKey;
use crate::domain::virtual_model::{TargetState, VirtualModel, VirtualView};
use crate::server::access::keys;
use crate::server::boot::state::AppState;
use crate::server::models::name_cache::Served;

/// Each target's model (`None`: the name matches none, or the key may not use it) and state.
pub async fn targets(
    state: &AppState,
    virtual_model: &VirtualModel,
    key: Option<&ApiKey>,
) -> Result<Vec<(Option<Served>, TargetState)>, AppError> {
    let mut found = Vec::with_capacity(virtual_model.targets.len());
    for name in &virtual_model.targets {
        let served = state
            .registry
            .resolve(name.clone())
            .await?
            .filter(|served| key.is_none_or(|key| keys::allows_model(key, served.id)));
        let now = served.as_ref().map_or_else(TargetState::default, |served| {
            target_state(state, served.id)
        });
        found.push((served, now));
    }
    Ok(found)
}

fn target_state(state: &AppState, id: i64) -> TargetState {
    let handle = state.supervisor.run_handle(id);
    let ready = handle
        .as_ref()
        .is_some_and(|h| *h.ready.borrow() && !*h.ended.borrow());
    let counts = state.supervisor.demand_book().counts(id);
    TargetState {
        exists: true,
        ready,
        loading: handle.is_some() && !ready,
        requests: counts.queued.saturating_add(counts.in_flight),
    }
}

/// The models to try for one request, best first (more than one only for `fallback`).
pub async fn candidates(
    state: &AppState,
    virtual_model: &VirtualModel,
    key: Option<&ApiKey>,
) -> Result<Vec<Served>, AppError> {
    let mut targets = targets(state, virtual_model, key).await?;
    let states: Vec<TargetState> = targets.iter().map(|(_, s)| *s).collect();
    Ok(virtual_model
        .pick(&states)
        .into_iter()
        .filter_map(|i| targets.get_mut(i).and_then(|(served, _)| served.take()))
        .collect())
}

/// Every virtual model as listed: what each would use now, and its targets that name no model.
pub async fn views(state: &AppState, key: Option<&ApiKey>) -> Result<Vec<VirtualView>, AppError> {
    let all = state.virtuals.all();
    let mut views = Vec::with_capacity(all.len());
    for stored in all.iter() {
        let targets = targets(state, &stored.model, key).await?;
        let states: Vec<TargetState> = targets.iter().map(|(_, s)| *s).collect();
        let would_use = stored
            .model
            .pick(&states)
            .first()
            .and_then(|&i| targets.get(i))
            .and_then(|(served, _)| served.as_ref().map(|s| s.name.clone()));
        let missing = stored
            .model
            .targets
            .iter()
            .zip(&targets)
            .filter(|(_, (served, _))| served.is_none())
            .map(|(name, _)| name.clone())
            .collect();
        views.push(VirtualView {
            model: stored.model.clone(),
            would_use,
            missing,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        });
    }
    Ok(views)
}
