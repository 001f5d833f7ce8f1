import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';

/** The attributes a field gives its control: the id its label points to, and the error link. */
export interface ControlProps {
  id: string;
  'aria-invalid'?: boolean;
  'aria-describedby'?: string;
}

interface FieldProps {
  label: string;
  /** Shown under the control and linked to it with aria-describedby; the control is marked invalid. */
  error?: string | false;
  /** Announce the error as it appears (role="alert"), for errors a submit produces. */
  alert?: boolean;
  /** The control, given the ids it must carry. */
  children: (control: ControlProps) => ComponentChildren;
}

/** A form row: a visible <label for> naming the control, the control, and its error message. */
export function Field({ label, error, alert, children }: FieldProps) {
  const id = useId();
  const errorId = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': error ? errorId : undefined })}
      {error && (
        <p id={errorId} class="field-error" role={alert ? 'alert' : undefined}>
          {error}
        </p>
      )}
    </div>
  );
}

interface TextFieldProps {
  label: string;
  value: string;
  onValue: (value: string) => void;
  error?: string | false;
  /** An email address (type=email); else plain text. */
  email?: boolean;
  /** A secret: typed hidden (type=password), never spell-checked. */
  secret?: boolean;
  alert?: boolean;
  maxLength?: number;
  autocomplete?: 'off';
  required?: boolean;
  autofocus?: boolean;
  disabled?: boolean;
}

export function TextField(props: TextFieldProps) {
  const { label, value, onValue, error } = props;
  return (
    <Field label={label} error={error} alert={props.alert}>
      {(control) => {
        const attributes = {
          ...control,
          maxLength: props.maxLength,
          autocomplete: props.autocomplete,
          'aria-required': props.required ? ('true' as const) : undefined,
          autofocus: props.autofocus,
          disabled: props.disabled,
          value,
          onInput: (e: { currentTarget: HTMLInputElement }) => {
            onValue(e.currentTarget.value);
          },
        };
        if (props.secret) return <input type="password" spellcheck={false} {...attributes} />;
        return props.email ? <input type="email" {...attributes} /> : <input {...attributes} />;
      }}
    </Field>
  );
}

interface TextAreaFieldProps {
  label: string;
  value: string;
  onValue: (value: string) => void;
  rows?: number;
  maxLength?: number;
}

export function TextAreaField({ label, value, onValue, rows = 3, maxLength }: TextAreaFieldProps) {
  return (
    <Field label={label}>
      {(control) => (
        <textarea
          {...control}
          rows={rows}
          maxLength={maxLength}
          value={value}
          onInput={(e) => {
            onValue(e.currentTarget.value);
          }}
        />
      )}
    </Field>
  );
}

interface NumberFieldProps {
  label: string;
  value: number;
  onValue: (value: number) => void;
  error?: string | false;
}

/** A non-negative number input (any step), as the usage limit forms use. */
export function NumberField({ label, value, onValue, error }: NumberFieldProps) {
  return (
    <Field label={label} error={error}>
      {(control) => (
        <input
          {...control}
          type="number"
          min={0}
          step="any"
          value={value}
          onInput={(e) => {
            onValue(Number(e.currentTarget.value));
          }}
        />
      )}
    </Field>
  );
}

interface SelectFieldProps<T extends string> {
  label: string;
  value: T;
  onValue?: (value: T) => void;
  /** [value, text] pairs, or plain values shown as they are. */
  options: readonly (T | readonly [T, string])[];
  disabled?: boolean;
}

export function SelectField<T extends string>({ label, value, onValue, options, disabled }: SelectFieldProps<T>) {
  return (
    <Field label={label}>
      {(control) => (
        <select {...control} value={value} disabled={disabled} onChange={(e) => onValue?.(e.currentTarget.value as T)}>
          {options.map((option) => {
            const [optionValue, text] = typeof option === 'string' ? [option, option] : option;
            return (
              <option key={optionValue} value={optionValue}>
                {text}
              </option>
            );
          })}
        </select>
      )}
    </Field>
  );
}

/** A checkbox with its label after it. */
export function CheckboxField({
  label,
  checked,
  onValue,
}: {
  label: string;
  checked: boolean;
  onValue: (checked: boolean) => void;
}) {
  const id = useId();
  return (
    <div class="field field-check">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        onChange={(e) => {
          onValue(e.currentTarget.checked);
        }}
      />
      <label for={id}>{label}</label>
    </div>
  );
}

/** The form's failure from the server, announced as an alert. */
export function FormError({ text }: { text: string }) {
  if (!text) return null;
  return (
    <p class="form-error" role="alert">
      {text}
    </p>
  );
}
