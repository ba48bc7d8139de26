use super::*;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("starling-config-{}-{}", name, starling_protocol::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("config.json")
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn missing_file_is_created_from_defaults() {
    let path = tmp("missing");
    let loaded = load_with_env(&path, env(&[])).unwrap();
    assert_eq!(loaded.config, Config::default());
    let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(written["ServiceSettings"]["ListenAddress"], ":8065");
    assert_eq!(written["ClusterSettings"]["GossipPort"], 8074);
    assert_eq!(written["MetricsSettings"]["ListenAddress"], ":8067");
    assert_eq!(written["ClusterSettings"]["UseIPAddress"], true);
}

#[test]
fn env_overrides_win_case_insensitively_and_are_not_written_back() {
    let path = tmp("env");
    std::fs::write(&path, r#"{"SqlSettings":{"DataSource":"postgres://a@b/c"},"Unknown":{"X":1}}"#).unwrap();
    let loaded = load_with_env(
        &path,
        env(&[
            ("MM_SQLSETTINGS_DATASOURCE", "postgres://x@y/z"),
            ("mm_clustersettings_gossipport", "9000"),
            ("MM_CLUSTERSETTINGS_ENABLE", "true"),
            ("MM_SQLSETTINGS_DATASOURCEREPLICAS", "postgres://r1@h/d postgres://r2@h/d"),
            ("MM_NOSUCH_THING", "1"),
        ]),
    )
    .unwrap();
    let c = &loaded.config;
    assert_eq!(c.sql_settings.data_source, "postgres://x@y/z");
    assert_eq!(c.cluster_settings.gossip_port, 9000);
    assert!(c.cluster_settings.enable);
    assert_eq!(c.sql_settings.data_source_replicas, vec!["postgres://r1@h/d", "postgres://r2@h/d"]);
    assert!(loaded.env_overrides.contains("SqlSettings.DataSource"));
    assert!(loaded.env_overrides.contains("ClusterSettings.GossipPort"));
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert!(on_disk.contains("postgres://a@b/c"));
    assert!(!on_disk.contains("postgres://x@y/z"));
}

#[test]
fn bad_env_value_names_the_key() {
    let path = tmp("badenv");
    let err = load_with_env(&path, env(&[("MM_CLUSTERSETTINGS_GOSSIPPORT", "lots")])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ClusterSettings.GossipPort"), "{msg}");
    assert!(msg.contains("MM_CLUSTERSETTINGS_GOSSIPPORT"), "{msg}");
}

#[test]
fn wrong_type_in_file_names_the_key() {
    let path = tmp("badtype");
    std::fs::write(&path, r#"{"ServiceSettings":{"ListenAddress":8065}}"#).unwrap();
    let msg = load_with_env(&path, env(&[])).unwrap_err().to_string();
    assert!(msg.contains("ServiceSettings.ListenAddress"), "{msg}");
}

#[test]
fn invalid_values_are_refused_with_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("MM_SERVICESETTINGS_LISTENADDRESS", "nonsense", "ServiceSettings.ListenAddress"),
        ("MM_SQLSETTINGS_DATASOURCE", "mysql://x", "SqlSettings.DataSource"),
        ("MM_FILESETTINGS_DRIVERNAME", "ftp", "FileSettings.DriverName"),
        ("MM_FILESETTINGS_MAXFILESIZE", "0", "FileSettings.MaxFileSize"),
        ("MM_CLUSTERSETTINGS_GOSSIPPORT", "70000", "ClusterSettings.GossipPort"),
        ("MM_LOGSETTINGS_CONSOLELEVEL", "LOUD", "LogSettings.ConsoleLevel"),
    ];
    for (var, val, key) in cases {
        let path = tmp("invalid");
        let msg = load_with_env(&path, env(&[(var, val)])).unwrap_err().to_string();
        assert!(msg.starts_with(key), "{var}={val}: {msg}");
    }
}

#[test]
fn s3_part_sizes_outside_s3s_limits_are_refused() {
    let s3 = [("MM_FILESETTINGS_DRIVERNAME", "amazons3"), ("MM_FILESETTINGS_AMAZONS3BUCKET", "b")];
    for bad in ["5242879", "0", "-1", "5368709121"] {
        let path = tmp("partsize");
        let vars: Vec<(&str, &str)> =
            s3.iter().copied().chain([("MM_FILESETTINGS_AMAZONS3UPLOADPARTSIZEBYTES", bad)]).collect();
        let msg = load_with_env(&path, env(&vars)).unwrap_err().to_string();
        assert!(msg.starts_with("FileSettings.AmazonS3UploadPartSizeBytes"), "{bad}: {msg}");
    }
    let path = tmp("partsize-ok");
    let vars: Vec<(&str, &str)> =
        s3.iter().copied().chain([("MM_FILESETTINGS_AMAZONS3UPLOADPARTSIZEBYTES", "8388608")]).collect();
    let c = load_with_env(&path, env(&vars)).expect("8 MiB parts");
    assert_eq!(c.config.file_settings.amazon_s3_upload_part_size_bytes, 8_388_608);
    assert_eq!(Config::default().file_settings.amazon_s3_upload_part_size_bytes, 5_242_880, "Mattermost's default");
}

#[test]
fn malformed_json_is_a_clear_error() {
    let path = tmp("malformed");
    std::fs::write(&path, "{ not json").unwrap();
    let msg = load_with_env(&path, env(&[])).unwrap_err().to_string();
    assert!(msg.contains("not valid JSON"), "{msg}");
}

#[test]
fn hash_leaves_out_settings_at_their_defaults() {
    // What a node of a version without a key hashes is what one with it at its default hashes:
    // only the settings away from their defaults (here the per-node ones hash() clears) count.
    let mut pruned = serde_json::to_value(Config::default()).unwrap();
    let defaults = pruned.clone();
    prune_defaults(&mut pruned, &defaults);
    assert_eq!(pruned, serde_json::json!({}));
    let empty = Config::default().hash();
    let mut c = Config::default();
    c.file_settings.amazon_s3_upload_part_size_bytes = 5_242_880;
    assert_eq!(c.hash(), empty, "a key set to its default");
    c.file_settings.amazon_s3_upload_part_size_bytes = 8_388_608;
    assert_ne!(c.hash(), empty, "a key set to something else");
    let mut d = Config::default();
    d.team_settings.site_name = "Other".into();
    assert_ne!(c.hash(), d.hash());
}

#[test]
fn hash_ignores_per_node_settings_only() {
    let a = Config::default();
    let mut b = a.clone();
    b.cluster_settings.override_hostname = "node-2".into();
    b.cluster_settings.gossip_port = 9999;
    b.service_settings.listen_address = "127.0.0.1:1".into();
    b.metrics_settings.listen_address = "127.0.0.1:2".into();
    assert_eq!(a.hash(), b.hash());
    b.team_settings.enable_open_server = true;
    assert_ne!(a.hash(), b.hash());
}

#[test]
fn listen_address_forms() {
    assert_eq!(parse_listen_address(":8065").unwrap().port(), 8065);
    assert_eq!(parse_listen_address("127.0.0.1:1").unwrap().to_string(), "127.0.0.1:1");
    assert!(parse_listen_address("8065").is_err());
}
