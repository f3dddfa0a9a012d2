package api

import "github.com/gofiber/fiber/v2"

// patientRoutes mounts the patients routes. (Placeholder, filled by its issue.)
func (a *API) patientRoutes(r fiber.Router) {}
