package api

import "github.com/gofiber/fiber/v2"

// assignmentRoutes mounts the assignments routes. (Placeholder, filled by its issue.)
func (a *API) assignmentRoutes(r fiber.Router) {}
