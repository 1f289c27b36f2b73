use super::*;

#[test]
fn context_overflow_maps_to_400_with_numbers() {
    let e: ApiError = EngineError::ContextOverflow {
        prompt_tokens: 100,
        max_tokens: 5000,
        n_ctx: 4096,
    }
    .into();
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    assert_eq!(e.code(), Some("context_length_exceeded"));
    let msg = e.to_string();
    assert!(
        msg.contains("4096") && msg.contains("5100") && msg.contains("100"),
        "{msg}"
    );
}

/// The seeded fuzz run (issue 12) sent `max_tokens: 5000` to a 1,024-token slot and got
/// `param: "messages"`: a client told to shorten its messages could not fix that.
#[test]
fn a_budget_that_overflows_alone_names_max_tokens() {
    let alone = ApiError::ContextLengthExceeded {
        prompt_tokens: None,
        max_tokens: 5000,
        n_ctx: 1024,
    };
    assert_eq!(alone.param(), Some("max_tokens"));
    let both = ApiError::ContextLengthExceeded {
        prompt_tokens: Some(900),
        max_tokens: 200,
        n_ctx: 1024,
    };
    assert_eq!(both.param(), Some("messages"));
}

#[test]
fn overloaded_has_retry_after() {
    for (msg, param) in [
        ("invalid grammar: the grammar is 9 bytes", Some("grammar")),
        (
            "repeat_last_n (5) is larger than the model's context",
            Some("repeat_last_n"),
        ),
        ("top_k must be >= 0 (0 disables it), got -1", Some("top_k")),
        ("the prompt is empty", None),
    ] {
        let e: ApiError = EngineError::InvalidRequest(msg.into()).into();
        assert_eq!((e.status().as_u16(), e.param()), (400, param), "{msg}");
    }
    let e: ApiError = EngineError::Overloaded { max_queue: 3 }.into();
    assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e.retry_after(), Some(1));
    assert_eq!(e.error_type(), "server_error");
}

#[test]
fn issue8_timeout_and_shutdown_errors() {
    let e = ApiError::RequestTimeout("slow body".into());
    assert_eq!(e.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(e.code(), Some("request_timeout"));
    assert_eq!(e.error_type(), "invalid_request_error");
    let e = ApiError::ShuttingDown;
    assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e.code(), Some("server_shutting_down"));
    assert_eq!(e.error_type(), "server_error");
    assert_eq!(e.retry_after(), Some(1));
}

#[test]
fn issue7_upstream_errors_keep_their_status_or_are_502() {
    let e = ApiError::Upstream {
        status: 404,
        message: "upstream: no such model".into(),
        param: Some("model".into()),
        code: Some("model_not_found".into()),
    };
    assert_eq!(e.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_str(&e.body_json()).unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["param"], "model");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let unreachable = ApiError::Upstream {
        status: 502,
        message: "cannot reach".into(),
        param: None,
        code: None,
    };
    assert_eq!(unreachable.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(unreachable.code(), Some("upstream_error"));
    assert_eq!(unreachable.error_type(), "server_error");
    // A success status is no error status: it becomes a 502.
    let odd = ApiError::Upstream {
        status: 200,
        message: "?".into(),
        param: None,
        code: None,
    };
    assert_eq!(odd.status(), StatusCode::BAD_GATEWAY);
    let busy = ApiError::Upstream {
        status: 503,
        message: "busy".into(),
        param: None,
        code: None,
    };
    assert_eq!(busy.retry_after(), Some(1));
}

#[test]
fn refused_hosts_origins_and_content_types_have_their_statuses() {
    let e = ApiError::Forbidden {
        message: "Host evil.example is not this server".into(),
        code: "forbidden_host".into(),
    };
    assert_eq!(e.status(), StatusCode::FORBIDDEN);
    assert_eq!(e.code(), Some("forbidden_host"));
    assert_eq!(e.error_type(), "invalid_request_error");
    let e = ApiError::UnsupportedMediaType("send application/json".into());
    assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(e.code(), Some("unsupported_media_type"));
}

#[test]
fn model_not_found_lists_models() {
    let e = ApiError::ModelNotFound {
        model: "x".into(),
        available: vec!["a".into(), "b".into()],
    };
    assert_eq!(e.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_str(&e.body_json()).unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("a, b"));
}

#[test]
fn each_api_gets_its_own_error_shape() {
    assert_eq!(ErrorShape::for_path("/api/chat"), ErrorShape::Ollama);
    assert_eq!(ErrorShape::for_path("/openai/load/x"), ErrorShape::Foundry);
    assert_eq!(ErrorShape::for_path("/foundry/list"), ErrorShape::Foundry);
    assert_eq!(ErrorShape::for_path("/v1/models"), ErrorShape::OpenAi);
    assert_eq!(ErrorShape::for_path("/apix"), ErrorShape::OpenAi);
    let e = ApiError::ModelNotFound {
        model: "x:latest".into(),
        available: vec!["a".into()],
    };
    let o: serde_json::Value = serde_json::from_str(&e.body_json_as(ErrorShape::Ollama)).unwrap();
    let msg = o["error"].as_str().unwrap();
    assert!(
        msg.contains("\"x:latest\" not found") && msg.contains("a"),
        "{msg}"
    );
    assert_eq!(o.as_object().unwrap().len(), 1);
    let f: serde_json::Value =
        serde_json::from_str(&ApiError::invalid("bad").body_json_as(ErrorShape::Foundry)).unwrap();
    assert_eq!(
        f,
        serde_json::json!({"success": false, "errorMessage": "bad"})
    );
    assert_eq!(
        ApiError::invalid("bad").body_json_as(ErrorShape::OpenAi),
        ApiError::invalid("bad").body_json()
    );
}

#[test]
fn body_shape_has_all_fields() {
    let body: serde_json::Value =
        serde_json::from_str(&ApiError::invalid("bad").body_json()).unwrap();
    let err = body["error"].as_object().unwrap();
    for k in ["message", "type", "param", "code"] {
        assert!(err.contains_key(k), "{k} missing");
    }
}
