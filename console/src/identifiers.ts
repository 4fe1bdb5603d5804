// The identifier types an operator can look a person up by (identity's types, most used first).
export const ID_TYPES = ['user_id', 'email', 'phone', 'anonymous_id', 'wechat_openid', 'device_id'];
