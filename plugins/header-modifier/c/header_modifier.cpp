// Example plugin in C++: edits request and response headers from its
// configuration. It behaves exactly like the Rust version
// (plugins/header-modifier/src/lib.rs).
//
// Config keys, under `request.` or `response.`:
// - `add.<Header-Name> = "value"`: append a header;
// - `set.<Header-Name> = "value"`: replace the header (or append it);
// - `remove = "a, b"`: drop these headers.
//
// Removals apply first, then sets, then adds. Only the edits that change
// something are made: a header to remove that is absent is left alone, a
// header to set that already has exactly that one value is not set again.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "warden.h"

namespace {

// Header edits for one direction (request or response).
struct Rules {
    // Headers to append, in config order.
    std::vector<std::pair<std::string, std::string>> add;
    // Headers to set, in config order.
    std::vector<std::pair<std::string, std::string>> set;
    // Header names to remove.
    std::vector<std::string> remove;
};

Rules request_rules;
Rules response_rules;

// The length of the Unicode white space character (Rust's
// `char::is_whitespace`) that `s` starts with, or 0.
size_t space_len(std::string_view s) {
    auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
    if (!s.empty() && ((b(0) >= 0x09 && b(0) <= 0x0D) || b(0) == ' ')) return 1;
    if (s.size() >= 2 && b(0) == 0xC2 && (b(1) == 0x85 || b(1) == 0xA0)) return 2;
    if (s.size() >= 3) {
        unsigned c = b(0) << 16 | b(1) << 8 | b(2);
        if (c == 0xE19A80 || (c >= 0xE28080 && c <= 0xE2808A) || c == 0xE280A8 || c == 0xE280A9 || c == 0xE280AF ||
            c == 0xE2819F || c == 0xE38080)
            return 3;
    }
    return 0;
}

// `s` without white space at either end, like Rust's `str::trim`.
std::string_view trim(std::string_view s) {
    while (size_t n = space_len(s)) s.remove_prefix(n);
    for (bool again = true; again;) {
        again = false;
        for (size_t k = 1; k <= 3 && k <= s.size(); k++) {
            if (space_len(s.substr(s.size() - k)) == k) {
                s.remove_suffix(k);
                again = true;
                break;
            }
        }
    }
    return s;
}

bool bad_config(warden_error_t *err, std::string_view key, const char *why) {
    return warden_error(err, "bad-config", "config key `%.*s`: %s", int(key.size()), key.data(), why);
}

// Reads the rules under `prefix` ("request" or "response"); unknown keys
// under the prefix and empty header names are `bad-config` errors.
bool read_rules(const warden_config_t *config, std::string_view prefix, Rules &rules, warden_error_t *err) {
    rules = Rules{};
    for (size_t i = 0; i < config->len; i++) {
        std::string_view key = warden::view(config->ptr[i].f0), value = warden::view(config->ptr[i].f1);
        if (key.substr(0, prefix.size()) != prefix || key.substr(prefix.size(), 1) != ".") continue;
        std::string_view rest = key.substr(prefix.size() + 1);
        size_t dot = rest.find('.');
        if (dot == std::string_view::npos && rest == "remove") {
            for (size_t start = 0; start <= value.size();) {
                size_t comma = value.find(',', start);
                if (comma == std::string_view::npos) comma = value.size();
                std::string_view name = trim(value.substr(start, comma - start));
                if (!name.empty()) rules.remove.emplace_back(name);
                start = comma + 1;
            }
        } else if (dot != std::string_view::npos && (rest.substr(0, dot) == "add" || rest.substr(0, dot) == "set")) {
            std::string_view name = rest.substr(dot + 1);
            bool invalid = name.empty();
            for (size_t j = 0; j < name.size() && !invalid; j++) {
                invalid = name[j] == ':' || space_len(name.substr(j)) > 0;
            }
            if (invalid) return bad_config(err, key, "invalid header name");
            auto &list = rest.substr(0, dot) == "add" ? rules.add : rules.set;
            list.emplace_back(name, value);
        } else {
            return bad_config(err, key, "expected `add.<name>`, `set.<name>` or `remove`");
        }
    }
    return true;
}

// The header functions of a request or a response.
template <typename Handle> struct Headers;

template <> struct Headers<warden_request_t> {
    static constexpr auto values = warden_request_header_values;
    static constexpr auto set = warden_request_set_header;
    static constexpr auto append = warden_request_append_header;
    static constexpr auto remove = warden_request_remove_header;
};

template <> struct Headers<warden_response_t> {
    static constexpr auto values = warden_response_header_values;
    static constexpr auto set = warden_response_set_header;
    static constexpr auto append = warden_response_append_header;
    static constexpr auto remove = warden_response_remove_header;
};

// The values of header `name` of `target`, copied.
template <typename Handle> std::vector<std::string> values(Handle target, const std::string &name) {
    warden_strs_t list = Headers<Handle>::values(target, name.c_str());
    std::vector<std::string> out;
    for (size_t i = 0; i < list.len; i++) out.emplace_back(warden::view(list.ptr[i]));
    warden_strs_free(&list);
    return out;
}

// Applies `rules` to `target`, making only the edits that change something.
template <typename Handle> bool apply(const Rules &rules, Handle target, warden_error_t *err) {
    using H = Headers<Handle>;
    for (const auto &name : rules.remove) {
        if (!values(target, name).empty() && !H::remove(target, name.c_str(), nullptr, err)) return false;
    }
    for (const auto &[name, value] : rules.set) {
        auto current = values(target, name);
        bool same = current.size() == 1 && current[0] == value;
        if (!same && !H::set(target, name.c_str(), value.c_str(), err)) return false;
    }
    for (const auto &[name, value] : rules.add) {
        if (!H::append(target, name.c_str(), value.c_str(), err)) return false;
    }
    return true;
}

} // namespace

bool warden_init(const warden_config_t *config, warden_error_t *err) {
    for (size_t i = 0; i < config->len; i++) {
        std::string_view key = warden::view(config->ptr[i].f0);
        if (key.substr(0, 8) != "request." && key.substr(0, 9) != "response.") {
            return warden_error(err, "bad-config", "config key `%.*s` must start with `request.` or `response.`",
                                int(key.size()), key.data());
        }
    }
    return read_rules(config, "request", request_rules, err) && read_rules(config, "response", response_rules, err);
}

bool warden_on_request(warden_ctx_t, warden_request_t req, warden_request_action_t *ret, warden_error_t *err) {
    return apply(request_rules, req, err) && warden_continue(ret);
}

bool warden_on_response(warden_ctx_t, warden_request_t, warden_response_t resp, warden_response_action_t *ret,
                        warden_error_t *err) {
    return apply(response_rules, resp, err) && warden_response_continue(ret);
}
