//! `GET /api/health`: answers while the service can take requests; needs no key.

use axum::Json;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub ok: bool,
}

#[utoipa::path(
    get,
    path = "/api/health",
    tag = "service",
    responses((status = 200, description = "The service is up", body = Health))
)]
pub async fn health() -> Json<Health> {
    Json(Health { ok: true })
}
