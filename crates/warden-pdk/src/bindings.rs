//! Bindings for the `warden:plugin` types and host imports, generated from `wit/plugin.wit`.
//!
//! Export bindings are not generated here: each plugin generates its own world,
//! listing only the hooks it implements, through [`crate::export!`].

wit_bindgen::generate!({
    inline: "
        package warden:pdk;

        world pdk {
            import warden:plugin/types@0.2.0;
            import warden:plugin/log@0.2.0;
            import warden:plugin/config@0.2.0;
            import warden:plugin/plugins@0.2.0;
            import warden:plugin/messaging@0.2.0;
            import warden:plugin/outbound-http@0.2.0;
            import warden:plugin/keyvalue@0.2.0;
        }
    ",
    path: "../../wit",
    world: "warden:pdk/pdk",
    generate_all,
    generate_unused_types: true,
    additional_derives: [PartialEq, Eq],
});
