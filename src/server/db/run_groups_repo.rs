//! SQL for `run_groups` and `run_group_members`: a group's flags in one row, its members by
//! model id in order. Names compare without case, as the unique index does.

use rusqlite::{Connection, OptionalExtension};

use crate::domain::run_group::{GroupRules, RunGroup};

/// Every group by name, its members by their names now: what the API and the tabs see.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<RunGroup>> {
    Ok(with_ids(conn)?
        .into_iter()
        .map(|(group, _)| group)
        .collect())
}

/// Every group with its members' ids: what a start's admission reads.
pub fn rules(conn: &Connection) -> rusqlite::Result<GroupRules> {
    Ok(GroupRules {
        groups: with_ids(conn)?,
    })
}

fn with_ids(conn: &Connection) -> rusqlite::Result<Vec<(RunGroup, Vec<i64>)>> {
    let mut groups: Vec<(i64, RunGroup, Vec<i64>)> = conn
        .prepare_cached(
            "SELECT id, name, swap, exclusive, persistent FROM run_groups ORDER BY name",
        )?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                RunGroup {
                    name: row.get(1)?,
                    swap: row.get(2)?,
                    exclusive: row.get(3)?,
                    persistent: row.get(4)?,
                    members: Vec::new(),
                },
                Vec::new(),
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut members = conn.prepare_cached(
        "SELECT m.group_id, m.model_id, models.name FROM run_group_members m \
         JOIN models ON models.id = m.model_id ORDER BY m.group_id, m.position",
    )?;
    let rows = members.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (group_id, model_id, name) = row?;
        if let Some((_, group, ids)) = groups.iter_mut().find(|(id, ..)| *id == group_id) {
            group.members.push(name);
            ids.push(model_id);
        }
    }
    Ok(groups
        .into_iter()
        .map(|(_, group, ids)| (group, ids))
        .collect())
}

pub fn count(conn: &Connection) -> rusqlite::Result<usize> {
    conn.query_row("SELECT count(*) FROM run_groups", [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// The name of the group called `name` (ignoring case).
pub fn holder(conn: &Connection, name: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT name FROM run_groups WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()
}

/// The name of the group model `model_id` is a member of.
pub fn group_of(conn: &Connection, model_id: i64) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached(
        "SELECT g.name FROM run_group_members m JOIN run_groups g ON g.id = m.group_id \
         WHERE m.model_id = ?1",
    )?
    .query_row([model_id], |row| row.get(0))
    .optional()
}

/// Stores `group` with the members `ids` (checked by the caller), replacing the flags and
/// members of the one of that name when `replace`; false when replacing and there is none.
pub fn save(
    conn: &Connection,
    group: &RunGroup,
    ids: &[i64],
    now: i64,
    replace: bool,
) -> rusqlite::Result<bool> {
    let flags = (
        &group.name,
        group.swap,
        group.exclusive,
        group.persistent,
        now,
    );
    let changed = if replace {
        conn.prepare_cached(
            "UPDATE run_groups SET swap = ?2, exclusive = ?3, persistent = ?4, updated_at = ?5 \
             WHERE name = ?1",
        )?
        .execute(flags)?
    } else {
        conn.prepare_cached(
            "INSERT INTO run_groups (name, swap, exclusive, persistent, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )?
        .execute(flags)?
    };
    if changed == 0 {
        return Ok(false);
    }
    let group_id: i64 = conn
        .prepare_cached("SELECT id FROM run_groups WHERE name = ?1")?
        .query_row([&group.name], |row| row.get(0))?;
    conn.prepare_cached("DELETE FROM run_group_members WHERE group_id = ?1")?
        .execute([group_id])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO run_group_members (group_id, model_id, position) VALUES (?1, ?2, ?3)",
    )?;
    for (position, id) in ids.iter().enumerate() {
        insert.execute((group_id, id, position as i64))?;
    }
    Ok(true)
}

/// Deletes the groups whose last member went (a group names at least one model); how many.
pub fn delete_empty(conn: &Connection) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM run_groups WHERE id NOT IN (SELECT group_id FROM run_group_members)",
    )?
    .execute([])
}

pub fn delete(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached("DELETE FROM run_groups WHERE name = ?1")?
        .execute([name])?;
    Ok(changed > 0)
}
